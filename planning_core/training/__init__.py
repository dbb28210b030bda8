"""Resident training: case library, trainees, scored attempts and their history (headless)."""
