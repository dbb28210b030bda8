"""Qt widgets of the application: thin views over :class:`cryoplan_app.model.Session`."""
