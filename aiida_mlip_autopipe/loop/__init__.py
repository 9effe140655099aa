"""The active-learning loop: the work chain that decides, its stop rules, protocols and run summary."""
