import json

from odoo import _, fields, models
from odoo.exceptions import UserError

from .payflow_agent import DEFAULT_URL, PARAM_TOKEN, PARAM_URL
from .payflow_dossier import PARAM_SECRET_EXPIRY


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    payflow_agent_url = fields.Char(
        string="PayFlow agent URL",
        config_parameter=PARAM_URL,
        default=DEFAULT_URL,
        groups="base.group_system",
        help="Where the PayFlow agent of this database answers (rpc.listen in its "
        "configuration), e.g. http://127.0.0.1:8390.",
    )
    # Write-only and never stored in the settings' own table: the inverse puts a typed token
    # in the parameter, the compute always shows an empty field.
    payflow_agent_token = fields.Char(
        string="PayFlow agent token",
        compute="_compute_payflow_agent_token",
        inverse="_inverse_payflow_agent_token",
        groups="base.group_system",
        help="The agent's rpc_token (payflow-agent secret set rpc_token). Leave empty to "
        "keep the current one.",
    )
    payflow_agent_token_set = fields.Boolean(
        string="PayFlow agent token set",
        compute="_compute_payflow_agent_token_set",
        groups="base.group_system",
    )

    payflow_smtp_missing = fields.Boolean(
        string="Alert e-mails without SMTP",
        compute="_compute_payflow_smtp_missing",
        groups="base.group_system",
    )

    payflow_silae_secret_expiry = fields.Char(
        string="Silae client secret expiry",
        compute="_compute_payflow_silae_secret_expiry",
        groups="base.group_system",
    )

    def _compute_payflow_silae_secret_expiry(self):
        text = self._payflow_secret_expiry_text()
        for settings in self:
            settings.payflow_silae_secret_expiry = text

    def _payflow_secret_expiry_text(self, expiry=None):
        """What the agent's last ``status`` said of an expiring Silae client secret, as one
        sentence per secret, or False."""
        if expiry is None:
            stored = self.env["ir.config_parameter"].sudo().get_param(PARAM_SECRET_EXPIRY)
            try:
                expiry = json.loads(stored) if stored else {}
            except ValueError:
                expiry = {}
        lines = []
        for which in ("primary", "secondary"):
            entry = expiry.get(which) if isinstance(expiry, dict) else None
            if not isinstance(entry, dict) or not entry.get("expires"):
                continue
            name = _("primary") if which == "primary" else _("secondary")
            days = entry.get("days_left")
            if isinstance(days, int):
                lines.append(
                    _(
                        "Silae's %(which)s client secret expires on %(date)s (%(days)s days left): "
                        "renew it in Silae's API portal and give the new one to the agent "
                        "(payflow-agent secret set silae_client_secret) before then, or every "
                        "import fails that day.",
                        which=name,
                        date=entry["expires"],
                        days=days,
                    )
                )
            else:
                lines.append(
                    _(
                        "Silae announces that its %(which)s client secret expires (%(date)s): "
                        "renew it in Silae's API portal and give the new one to the agent "
                        "(payflow-agent secret set silae_client_secret).",
                        which=name,
                        date=entry["expires"],
                    )
                )
        return "\n".join(lines) or False

    def _compute_payflow_smtp_missing(self):
        Dossier = self.env["payflow.dossier"].sudo()
        missing = Dossier._payflow_smtp_known_missing() and bool(
            Dossier.search_count([("alert_emails", "!=", False)])
        )
        for settings in self:
            settings.payflow_smtp_missing = missing

    def _compute_payflow_agent_token_set(self):
        stored = bool(self.env["ir.config_parameter"].sudo().get_param(PARAM_TOKEN))
        for settings in self:
            settings.payflow_agent_token_set = stored

    def get_values(self):
        # A new settings form gets its values here (default_get), not from the compute.
        res = super().get_values()
        if self.env.is_admin():
            res["payflow_agent_token_set"] = bool(
                self.env["ir.config_parameter"].sudo().get_param(PARAM_TOKEN)
            )
            Dossier = self.env["payflow.dossier"].sudo()
            res["payflow_smtp_missing"] = Dossier._payflow_smtp_known_missing() and bool(
                Dossier.search_count([("alert_emails", "!=", False)])
            )
            res["payflow_silae_secret_expiry"] = self._payflow_secret_expiry_text()
        return res

    def _compute_payflow_agent_token(self):
        for settings in self:
            settings.payflow_agent_token = False

    def _inverse_payflow_agent_token(self):
        for settings in self:
            token = (settings.payflow_agent_token or "").strip()
            if token and self.env.is_admin():
                self.env["ir.config_parameter"].sudo().set_param(PARAM_TOKEN, token)

    def action_payflow_test_agent(self):
        """Calls the agent's ``status`` with the URL and token of the form."""
        self.ensure_one()
        agent = self.env["payflow.agent"]
        url = (self.payflow_agent_url or "").strip()
        token = agent._settings()[1]
        if not url or not token:
            return self._payflow_notify(
                "warning",
                _("PayFlow agent"),
                _("Enter the agent URL and its token first."),
            )
        try:
            status = self.env["payflow.dossier"]._payflow_note_status(
                agent._call_at(url, token, "status")
            )
        except UserError as e:
            # Shown like a success: a notification, not an error dialog.
            return self._payflow_notify("danger", _("PayFlow agent"), str(e))
        return self._payflow_notify("success", _("PayFlow agent"), self._payflow_status_text(status))

    def _payflow_status_text(self, status):
        status = status or {}
        odoo = status.get("odoo") or {}
        silae = status.get("silae") or {}
        last = status.get("last_run") or {}
        lines = [
            _(
                "Agent %(instance)s, version %(version)s.",
                instance=status.get("instance") or "?",
                version=status.get("version") or "?",
            ),
            _(
                "Odoo %(url)s, database %(db)s: %(state)s.",
                url=odoo.get("url") or "?",
                db=odoo.get("database") or "?",
                state=_("reachable") if odoo.get("reachable") else _("not reachable"),
            ),
            _("Silae: configured.") if silae.get("configured") else _("Silae: not configured."),
        ]
        if last:
            lines.append(
                _(
                    "Last run: dossier %(dossier)s, %(period)s, %(status)s.",
                    dossier=last.get("dossier") or "?",
                    period=last.get("period") or "?",
                    status=last.get("status") or "?",
                )
            )
        if status.get("next_due"):
            lines.append(_("Next due date: %(date)s.", date=status["next_due"]))
        expiry = self._payflow_secret_expiry_text(silae.get("secret_expiry") or {})
        if expiry:
            lines.append(expiry)
        return "\n".join(lines)

    def _payflow_notify(self, kind, title, message):
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {"type": kind, "title": title, "message": message, "sticky": True},
        }
