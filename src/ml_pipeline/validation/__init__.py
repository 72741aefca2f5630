"""Data validation gates: rules from config, checks on pandera, reports, quarantine."""
