from . import payflow_missing_accounts
