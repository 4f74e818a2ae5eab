"""Import a payroll: start an agent job, follow it, show its runs (and the preview)."""

import re
import time

from odoo import Command, _, api, fields, models
from odoo.exceptions import UserError

from ..models.payflow_agent import AgentError, rpc_call

MAX_PERIODS = 36
# How long starting (or refreshing) an import waits for the job before showing its progress.
START_WAIT_SECONDS = 4.0
_MONTH = r"(\d{4})-(0[1-9]|1[0-2])"


def parse_periods(text):
    """'2026-09, 2026-10' or '2026-07..2026-10' (or both) -> sorted unique 'YYYY-MM' list.

    Raises ValueError with the piece that is not understood."""
    periods = set()
    text = re.sub(r"\s*\.\.\s*", "..", (text or "").strip())
    for piece in re.split(r"[,;\s]+", text):
        piece = piece.strip()
        if not piece:
            continue
        single = re.fullmatch(_MONTH, piece)
        span = re.fullmatch(_MONTH + r"\.\." + _MONTH, piece)
        if single:
            periods.add(piece)
        elif span:
            y1, m1, y2, m2 = (int(g) for g in span.groups())
            first, last = y1 * 12 + m1 - 1, y2 * 12 + m2 - 1
            if last < first or last - first >= MAX_PERIODS:
                raise ValueError(piece)
            periods.update(f"{i // 12:04d}-{i % 12 + 1:02d}" for i in range(first, last + 1))
        else:
            raise ValueError(piece)
    return sorted(periods)


class PayflowImportWizard(models.TransientModel):
    _name = "payflow.import.wizard"
    _description = "Import a payroll from Silae"

    def _default_periods(self):
        today = fields.Date.context_today(self)
        year, month = (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)
        return f"{year:04d}-{month:02d}"

    dossier_id = fields.Many2one("payflow.dossier", required=True)
    company_id = fields.Many2one(related="dossier_id.company_id")
    periods = fields.Char(
        required=True,
        default=_default_periods,
        help="One or several months: 2026-09, 2026-10 — or a range: 2026-07..2026-10.",
    )
    dry_run = fields.Boolean(
        string="Preview only (dry run)",
        help="Reads Silae and checks everything, writes nothing in Odoo: shows the entries "
        "that would be created.",
    )
    state = fields.Selection(
        [("draft", "To start"), ("running", "Running"), ("done", "Done")],
        default="draft",
        required=True,
    )
    job_id = fields.Integer(string="Agent job", readonly=True)
    done_count = fields.Integer(readonly=True)
    total_count = fields.Integer(readonly=True)
    progress = fields.Float(compute="_compute_progress")
    job_state = fields.Char(readonly=True)
    run_ids = fields.Many2many("payflow.run", string="Imports", readonly=True)
    failed = fields.Boolean(compute="_compute_failed")
    missing_accounts = fields.Boolean(compute="_compute_failed")
    line_ids = fields.One2many("payflow.import.wizard.line", "wizard_id", string="Preview")

    @api.depends("done_count", "total_count")
    def _compute_progress(self):
        for wizard in self:
            total = wizard.total_count or 0
            wizard.progress = 100.0 * wizard.done_count / total if total else 0.0

    @api.depends("run_ids.status")
    def _compute_failed(self):
        for wizard in self:
            wizard.failed = any(r.status == "failed" for r in wizard.run_ids)
            wizard.missing_accounts = any(
                r.action_code == "create_or_map_accounts" for r in wizard.run_ids
            )

    def _reopen(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "target": "new",
            "name": _("Import a payroll"),
        }

    def action_start(self):
        self.ensure_one()
        try:
            periods = parse_periods(self.periods)
        except ValueError as e:
            raise UserError(
                _(
                    "%(piece)s is not a period. Write months as YYYY-MM, separated by "
                    "commas (2026-09, 2026-10), or a range (2026-07..2026-10).",
                    piece=str(e),
                )
            ) from None
        if not periods or len(periods) > MAX_PERIODS:
            raise UserError(_("Choose from 1 to %(max)s periods.", max=MAX_PERIODS))
        agent = self.env["payflow.agent"]
        url, token = agent._settings()
        dossier, dry_run, login = self.dossier_id.silae_number, self.dry_run, self.env.user.login
        # What this transaction wrote must be visible when the agent reads Odoo.
        self.env.flush_all()
        answer = agent._call(
            "imports.start", dossier=dossier, periods=periods, dry_run=dry_run, user=login
        )
        # From here until the job is done the agent may be writing into this database: wait
        # without touching it, then record what the job did.
        job = self._wait(url, token, answer["job_id"], START_WAIT_SECONDS)
        self.write(
            {
                "job_id": answer["job_id"],
                "state": "running",
                "total_count": len(periods),
                "periods": ", ".join(periods),
            }
        )
        self._apply_job(job)
        return self._reopen()

    @staticmethod
    def _wait(url, token, job_id, seconds):
        """Polls a job through the agent only (no ORM, no SQL) for at most ``seconds``."""
        deadline = time.monotonic() + seconds
        while True:
            try:
                job = rpc_call(url, token, "jobs.get", {"job_id": job_id})
            except AgentError:
                return None
            if job.get("state") != "running" or time.monotonic() >= deadline:
                return job
            time.sleep(0.25)

    def action_refresh(self):
        """Reads the job again, waiting a few seconds for it to finish (again without SQL)."""
        self.ensure_one()
        if self.job_id:
            agent = self.env["payflow.agent"]
            url, token = agent._settings()
            job_id = self.job_id
            job = agent._call("jobs.get", job_id=job_id)
            if job and job.get("state") == "running":
                job = self._wait(url, token, job_id, START_WAIT_SECONDS) or job
            self._apply_job(job)
        return self._reopen()

    def _apply_job(self, job):
        if not job:
            return
        values = {
            "done_count": job.get("done") or 0,
            "total_count": job.get("total") or self.total_count,
            "job_state": job.get("state"),
        }
        if job.get("state") != "running":
            runs = self.env["payflow.run"]._payflow_store(job.get("runs") or [])
            values.update(state="done", run_ids=[Command.set(runs.ids)])
            lines = [Command.clear()]
            for run in job.get("runs") or []:
                if run.get("dry_run"):
                    lines += [Command.create(v) for v in self._preview_lines(run)]
            values["line_ids"] = lines
        self.write(values)

    @api.model
    def _preview_lines(self, run):
        rows = []
        for plan in run.get("plans") or []:
            for line in plan.get("lines") or []:
                rows.append(
                    {
                        "period": run.get("period"),
                        "ref": plan.get("ref"),
                        "date": plan.get("date"),
                        "account": line.get("account"),
                        "odoo_account": line.get("odoo_account") or line.get("mapped_account"),
                        "label": line.get("label"),
                        "analytic": self._analytic_text(line.get("analytic")),
                        "debit": (line.get("debit_cents") or 0) / 100.0,
                        "credit": (line.get("credit_cents") or 0) / 100.0,
                    }
                )
        return rows

    @api.model
    def _analytic_text(self, analytic):
        if not analytic:
            return False
        pct = analytic.get("pct")
        pct = f"{pct:g}" if isinstance(pct, (int, float)) else str(pct or "?")
        return f"{analytic.get('index')} ({pct} %)"

    def action_import_now(self):
        """After a good preview: the same periods, imported for real."""
        self.ensure_one()
        self.write(
            {
                "dry_run": False,
                "state": "draft",
                "job_id": 0,
                "done_count": 0,
                "run_ids": [Command.clear()],
                "line_ids": [Command.clear()],
            }
        )
        return self.action_start()

    def _missing_accounts_run(self):
        self.ensure_one()
        run = self.run_ids.filtered(lambda r: r.action_code == "create_or_map_accounts")[:1]
        if not run:
            raise UserError(_("No period of this import lacks accounts."))
        return run

    def action_create_missing_accounts(self):
        return self.env["payflow.missing.accounts"]._payflow_open(self._missing_accounts_run(), import_wizard=self)

    def action_map_missing_accounts(self):
        return self.env["payflow.missing.accounts"]._payflow_open(
            self._missing_accounts_run(), mode="map", import_wizard=self
        )

    def _payflow_preview_again(self):
        """Once the missing accounts are fixed: this wizard again, on the same periods, as a
        preview to start (no dead end: the accountant previews, then imports now)."""
        self.ensure_one()
        self.write(
            {
                "dry_run": True,
                "state": "draft",
                "job_id": 0,
                "done_count": 0,
                "run_ids": [Command.clear()],
                "line_ids": [Command.clear()],
            }
        )
        # Run by the web client after a notification: it needs the views spelt out.
        return dict(self._reopen(), views=[(False, "form")])

    def action_open_runs(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("payflow_silae.payflow_run_action")
        action["domain"] = [("id", "in", self.run_ids.ids)]
        action["context"] = {}
        return action


class PayflowImportWizardLine(models.TransientModel):
    _name = "payflow.import.wizard.line"
    _description = "Previewed journal item"
    _order = "id"

    wizard_id = fields.Many2one("payflow.import.wizard", required=True, ondelete="cascade")
    currency_id = fields.Many2one(related="wizard_id.company_id.currency_id")
    period = fields.Char()
    ref = fields.Char(string="Reference")
    date = fields.Date()
    account = fields.Char(string="Silae account")
    odoo_account = fields.Char(string="Odoo account")
    label = fields.Char()
    analytic = fields.Char()
    debit = fields.Monetary()
    credit = fields.Monetary()
