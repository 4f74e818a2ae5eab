{
    "name": "PayFlow (Silae)",
    "summary": "Silae payroll journals imported into Accounting, exactly once, by the PayFlow agent",
    "version": "1.0.0",
    "category": "Accounting/Accounting",
    "author": "PayFlow",
    "website": "https://github.com/payflow",
    "license": "LGPL-3",
    "depends": ["account"],
    "data": [
        "views/account_move_views.xml",
    ],
    "installable": True,
    "application": False,
}
