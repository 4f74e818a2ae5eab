//! The models the simulator knows and their fields, per Odoo series (17, 18, 19) and with or
//! without the payflow_silae addon.

/// A field's type, as far as storing, searching and reading need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    Integer,
    Char,
    Html,
    Boolean,
    Monetary,
    Date,
    Datetime,
    Selection(&'static [&'static str]),
    Many2one(&'static str),
    Many2many(&'static str),
    /// (comodel, inverse many2one)
    One2many(&'static str, &'static str),
    Json,
    Binary,
}

impl Ty {
    /// The name `fields_get` gives.
    pub fn odoo_name(self) -> &'static str {
        match self {
            Ty::Integer => "integer",
            Ty::Char => "char",
            Ty::Html => "html",
            Ty::Boolean => "boolean",
            Ty::Monetary => "monetary",
            Ty::Date => "date",
            Ty::Datetime => "datetime",
            Ty::Selection(_) => "selection",
            Ty::Many2one(_) => "many2one",
            Ty::Many2many(_) => "many2many",
            Ty::One2many(..) => "one2many",
            Ty::Json => "json",
            Ty::Binary => "binary",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    pub string: &'static str,
    pub ty: Ty,
    /// NOT NULL in the database: creating without it fails as Odoo does.
    pub required: bool,
    /// Computed on read (not writable, not stored here).
    pub computed: bool,
}

/// Who may see a record of a multi-company model (the record rules the admin is subject to).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompanyRule {
    None,
    /// `company_id in allowed companies`
    Company,
    /// `company_id = False or company_id in allowed companies`
    CompanyOrShared,
    /// `company_ids` meets the allowed companies (account.account from 18 on)
    Companies,
}

#[derive(Debug, Clone)]
pub struct Model {
    pub name: &'static str,
    /// `_description`, as constraint errors print it.
    pub description: &'static str,
    pub fields: Vec<Field>,
    pub order: &'static str,
    pub company_rule: CompanyRule,
}

impl Model {
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    pub fn has(&self, name: &str) -> bool {
        self.field(name).is_some()
    }
}

pub const JOURNAL_TYPES: &[&str] = &["sale", "purchase", "cash", "bank", "credit", "general"];
pub const MOVE_STATES: &[&str] = &["draft", "posted", "cancel"];
pub const MOVE_TYPES: &[&str] =
    &["entry", "out_invoice", "out_refund", "in_invoice", "in_refund", "out_receipt", "in_receipt"];
pub const ACCOUNT_TYPES: &[&str] = &[
    "asset_receivable",
    "asset_cash",
    "asset_current",
    "asset_non_current",
    "asset_prepayments",
    "asset_fixed",
    "liability_payable",
    "liability_credit_card",
    "liability_current",
    "liability_non_current",
    "equity",
    "equity_unaffected",
    "income",
    "income_other",
    "expense",
    "expense_other",
    "expense_depreciation",
    "expense_direct_cost",
    "off_balance",
];
pub const MODULE_STATES: &[&str] =
    &["uninstallable", "uninstalled", "installed", "to upgrade", "to remove", "to install"];
pub const MESSAGE_TYPES: &[&str] =
    &["email", "comment", "email_outgoing", "notification", "auto_comment", "user_notification"];

/// The lock date fields of `res.company` in a series.
pub fn lock_fields(version: u32) -> &'static [&'static str] {
    if version >= 18 {
        &["fiscalyear_lock_date", "tax_lock_date", "sale_lock_date", "purchase_lock_date", "hard_lock_date"]
    } else {
        &["fiscalyear_lock_date", "tax_lock_date", "period_lock_date"]
    }
}

/// The lock date's label (`fields_get()[f]['string']`).
pub fn lock_label(field: &str) -> &'static str {
    match field {
        "fiscalyear_lock_date" => "Global Lock Date",
        "tax_lock_date" => "Tax Return Lock Date",
        "sale_lock_date" => "Sales Lock Date",
        "purchase_lock_date" => "Purchase Lock date",
        "hard_lock_date" => "Hard Lock Date",
        "period_lock_date" => "Journal Entries Lock Date",
        _ => "Lock Date",
    }
}

fn f(name: &'static str, string: &'static str, ty: Ty) -> Field {
    Field { name, string, ty, required: false, computed: false }
}

fn req(name: &'static str, string: &'static str, ty: Ty) -> Field {
    Field { name, string, ty, required: true, computed: false }
}

fn computed(name: &'static str, string: &'static str, ty: Ty) -> Field {
    Field { name, string, ty, required: false, computed: true }
}

/// The model `name` as the series `version` has it, or `None` when the simulator does not
/// know it (Odoo: "Object … doesn't exist").
pub fn model(name: &str, version: u32, addon: bool) -> Option<Model> {
    use Ty::*;
    let mut fields = vec![f("id", "ID", Integer), computed("display_name", "Display Name", Char)];
    let (name, description, order, company_rule): (&'static str, _, _, _) = match name {
        "res.company" => {
            fields.extend([
                req("name", "Company Name", Char),
                f("active", "Active", Boolean),
                f("currency_id", "Currency", Many2one("res.currency")),
                f("country_id", "Country", Many2one("res.country")),
            ]);
            for lock in lock_fields(version) {
                fields.push(f(lock, lock_label(lock), Date));
            }
            ("res.company", "Companies", "sequence, name", CompanyRule::None)
        }
        "res.currency" => {
            fields.extend([req("name", "Currency", Char), f("symbol", "Symbol", Char), f("active", "Active", Boolean)]);
            ("res.currency", "Currency", "active desc, name", CompanyRule::None)
        }
        "res.country" => {
            fields.extend([req("name", "Country Name", Char), f("code", "Country Code", Char)]);
            ("res.country", "Country", "name", CompanyRule::None)
        }
        "res.users" => {
            fields.extend([
                req("name", "Name", Char),
                req("login", "Login", Char),
                f("active", "Active", Boolean),
                f("company_id", "Company", Many2one("res.company")),
                f("company_ids", "Companies", Many2many("res.company")),
            ]);
            ("res.users", "User", "name, login", CompanyRule::None)
        }
        "res.partner" => {
            fields.extend([
                req("name", "Name", Char),
                f("ref", "Reference", Char),
                f("vat", "Tax ID", Char),
                f("company_id", "Company", Many2one("res.company")),
                f("active", "Active", Boolean),
            ]);
            ("res.partner", "Contact", "name ASC, id DESC", CompanyRule::CompanyOrShared)
        }
        "account.journal" => {
            fields.extend([
                req("name", "Journal Name", Char),
                req("code", "Short Code", Char),
                req("type", "Type", Selection(JOURNAL_TYPES)),
                f("active", "Active", Boolean),
                f("sequence", "Sequence", Integer),
                req("company_id", "Company", Many2one("res.company")),
            ]);
            ("account.journal", "Journal", "sequence, type, code", CompanyRule::Company)
        }
        "account.account" => {
            fields.extend([
                req("name", "Account Name", Char),
                req("code", "Code", Char),
                req("account_type", "Type", Selection(ACCOUNT_TYPES)),
                f("reconcile", "Allow Reconciliation", Boolean),
            ]);
            if version >= 18 {
                fields.push(f("company_ids", "Companies", Many2many("res.company")));
            } else {
                fields.push(req("company_id", "Company", Many2one("res.company")));
            }
            if version <= 18 {
                fields.push(f("deprecated", "Deprecated", Boolean));
            } else {
                fields.push(f("active", "Active", Boolean));
            }
            let rule = if version >= 18 { CompanyRule::Companies } else { CompanyRule::Company };
            ("account.account", "Account", "code, id", rule)
        }
        "account.analytic.plan" => {
            fields.extend([req("name", "Name", Char), f("color", "Color", Integer)]);
            ("account.analytic.plan", "Analytic Plans", "sequence asc, id", CompanyRule::None)
        }
        "account.analytic.account" => {
            fields.extend([
                req("name", "Analytic Account", Char),
                f("code", "Reference", Char),
                req("plan_id", "Plan", Many2one("account.analytic.plan")),
                f("company_id", "Company", Many2one("res.company")),
                f("active", "Active", Boolean),
            ]);
            ("account.analytic.account", "Analytic Account", "plan_id, name asc", CompanyRule::CompanyOrShared)
        }
        "account.move" => {
            fields.extend([
                f("name", "Number", Char),
                req("state", "Status", Selection(MOVE_STATES)),
                req("move_type", "Type", Selection(MOVE_TYPES)),
                req("journal_id", "Journal", Many2one("account.journal")),
                req("company_id", "Company", Many2one("res.company")),
                req("date", "Date", Date),
                f("ref", "Reference", Char),
                f("narration", "Terms and Conditions", Html),
                f("line_ids", "Journal Items", One2many("account.move.line", "move_id")),
                f("attachment_ids", "Attachments", One2many("ir.attachment", "res_id")),
                f("currency_id", "Currency", Many2one("res.currency")),
                computed("amount_total", "Total", Monetary),
                f("posted_before", "Posted Before", Boolean),
            ]);
            if addon {
                fields.extend([
                    f("payflow_import_key", "PayFlow import key", Char),
                    f("payflow_payload_hash", "PayFlow payload fingerprint", Char),
                    f("payflow_lines_hash", "PayFlow lines fingerprint", Char),
                    f("payflow_adjusted_move_id", "PayFlow: adjusts", Many2one("account.move")),
                ]);
            }
            ("account.move", "Journal Entry", "date desc, name desc, id desc", CompanyRule::Company)
        }
        "account.move.line" => {
            fields.extend([
                req("move_id", "Journal Entry", Many2one("account.move")),
                req("account_id", "Account", Many2one("account.account")),
                f("name", "Label", Char),
                f("debit", "Debit", Monetary),
                f("credit", "Credit", Monetary),
                computed("balance", "Balance", Monetary),
                f("analytic_distribution", "Analytic Distribution", Json),
                f("partner_id", "Partner", Many2one("res.partner")),
                computed("company_id", "Company", Many2one("res.company")),
                computed("journal_id", "Journal", Many2one("account.journal")),
                computed("date", "Date", Date),
                computed("parent_state", "Status", Selection(MOVE_STATES)),
                f("reconciled", "Reconciled", Boolean),
                f("full_reconcile_id", "Matching", Many2one("account.full.reconcile")),
            ]);
            ("account.move.line", "Journal Item", "date desc, move_id desc, id", CompanyRule::Company)
        }
        "ir.attachment" => {
            fields.extend([
                req("name", "Name", Char),
                f("res_model", "Resource Model", Char),
                f("res_id", "Resource ID", Integer),
                f("datas", "File Content (base64)", Binary),
                f("mimetype", "Mime Type", Char),
                f("type", "Type", Selection(&["url", "binary"])),
                f("file_size", "File Size", Integer),
                f("description", "Description", Char),
            ]);
            ("ir.attachment", "Attachment", "id desc", CompanyRule::None)
        }
        "mail.message" => {
            fields.extend([
                f("model", "Related Document Model", Char),
                f("res_id", "Related Document ID", Integer),
                f("body", "Contents", Html),
                req("message_type", "Type", Selection(MESSAGE_TYPES)),
                f("date", "Date", Datetime),
            ]);
            ("mail.message", "Message", "id desc", CompanyRule::None)
        }
        // Odoo's full reconciliation: its lines point to it (`full_reconcile_id`).
        "account.full.reconcile" => ("account.full.reconcile", "Full Reconcile", "id desc", CompanyRule::None),
        "ir.module.module" => {
            fields.extend([
                req("name", "Technical Name", Char),
                f("shortdesc", "Module Name", Char),
                f("state", "Status", Selection(MODULE_STATES)),
            ]);
            ("ir.module.module", "Module", "application desc,sequence,name", CompanyRule::None)
        }
        _ => return None,
    };
    Some(Model { name, description, fields, order, company_rule })
}

/// The models the simulator knows (for `fields_get`-like listings and the test API).
pub const MODELS: &[&str] = &[
    "res.company",
    "res.currency",
    "res.country",
    "res.users",
    "res.partner",
    "account.journal",
    "account.account",
    "account.analytic.plan",
    "account.analytic.account",
    "account.move",
    "account.move.line",
    "account.full.reconcile",
    "ir.attachment",
    "mail.message",
    "ir.module.module",
];
