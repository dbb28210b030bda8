"""Confirmation after planning: the CT taken during the freeze and the post-ablation CT.

Registration of a follow-up CT to the planning CT, placed probes and visible ice
(intra-procedural), ablation zone and minimal ablative margin (post-ablation).
"""
