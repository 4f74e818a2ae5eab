/** @odoo-module **/
/*
 * The accountant's month in a real browser, in French (issue 17's "Must show"), replayed by
 * tests/test_journey.py with the real agent and the Silae simulator:
 *   payflow_journey: a new dossier from Odoo alone, its payroll journal created from the
 *     dossier form; a preview that lacks accounts; the accounts created from it in one
 *     confirmation; the preview again, then "Importer maintenant"; the entries linked at once
 *     by name; the import log and the run.
 *   payflow_community_lines: a user of Invoicing with PayFlow's "Import payrolls" group (the
 *     level the README names on Community) opens the run from the import log and sees the
 *     lines of its entry.
 * On every screen a step collects the visible texts and fails on English words.
 *
 * The same file runs on Odoo 17, 18 and 19: every action is a `run` function (17 clicks a
 * step without `run`, 18 and 19 do not) and typing goes through `edit` (18, 19) or `text` (17).
 */
import { registry } from "@web/core/registry";
import { session } from "@web/session";

// English words and phrases PayFlow's screens must not show to a French user (whole words,
// case-sensitive: "Import" and "Message" are French too, "Import now" is not).
const ENGLISH = [
    "Import now", "Import log", "Import a payroll", "Preview", "Previewed", "preview",
    "Save", "Discard", "Refresh", "Start", "Close", "Cancel", "Create", "New",
    "failed", "Failed", "Imported", "imported", "Running", "Done", "Waiting", "Interrupted",
    "move(s)", "moves", "account(s)", "accounts", "Accounts", "entries", "Entries", "lines",
    "nothing was written", "already", "dry run", "Settings", "Summary",
    "Company", "Period", "Periods", "Status", "Journal entries", "Journal items", "Label",
    "Debit", "Credit", "Reference", "Analytic", "Progress", "Dossier number",
    "the", "and", "of", "with", "to", "is", "are", "for", "from", "not", "was", "were",
    "has", "have", "this", "that", "Test connections", "Map", "Mapped", "Missing", "missing",
];
// Proper nouns and names the tests' data give (they are not English sentences), and Odoo's own
// texts that its French translation lacks (not PayFlow's to fix): the breadcrumb's tooltip,
// a chatter message's menu.
const ALLOWED = [
    "PayFlow", "Silae", "Odoo", "YourCompany", "My Company", "Mitchell Admin",
    'Back to "', "Copy Message Link",
];

function isVisible(el) {
    return !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length);
}

/** Every text a user sees: the menus, the current view, dialogs and notifications, with the
 * tooltips and placeholders of visible elements. */
function visibleTexts() {
    const roots = document.querySelectorAll(
        ".o_main_navbar, .o_action_manager, .modal, .o_notification_manager"
    );
    const texts = [];
    for (const root of roots) {
        if (!isVisible(root)) {
            continue;
        }
        texts.push(root.innerText);
        for (const el of root.querySelectorAll("[title], [placeholder], [data-tooltip]")) {
            if (isVisible(el)) {
                for (const attr of ["title", "placeholder", "data-tooltip"]) {
                    if (el.getAttribute(attr)) {
                        texts.push(el.getAttribute(attr));
                    }
                }
            }
        }
    }
    return texts.join("\n");
}

function escapeRegExp(text) {
    return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function englishIn(text) {
    for (const name of ALLOWED) {
        text = text.split(name).join(" ");
    }
    const found = [];
    for (const word of ENGLISH) {
        const re = new RegExp(`(^|[^\\p{L}\\p{N}_])${escapeRegExp(word)}(?=$|[^\\p{L}\\p{N}_])`, "u");
        const m = re.exec(text);
        if (m) {
            const at = m.index + m[1].length;
            found.push(`"${word}" in «${text.slice(Math.max(0, at - 40), at + word.length + 40).replace(/\s+/g, " ")}»`);
        }
    }
    return found;
}

/** A step that fails when the screen shows English. */
function french(screen, trigger = "body") {
    return {
        content: `every visible text of ${screen} is French`,
        trigger,
        run() {
            const found = englishIn(visibleTexts());
            if (found.length) {
                throw new Error(`English on ${screen}: ${found.join("; ")}`);
            }
        },
    };
}

function click(trigger, content) {
    return { content: content || `click ${trigger}`, trigger, run: "click" };
}

function edit(trigger, value, content) {
    return {
        content: content || `type ${value} in ${trigger}`,
        trigger,
        run(helpers) {
            return helpers.edit ? helpers.edit(value) : helpers.text(value);
        },
    };
}

/** A check only: waits for the trigger, does nothing (17 would click a step without run). */
function seen(trigger, content) {
    return { content: content || `see ${trigger}`, trigger, run() {} };
}

function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls ``condition`` until it holds, for at most 15 s. */
async function waitFor(what, condition) {
    const deadline = Date.now() + 15000;
    while (!condition()) {
        if (Date.now() > deadline) {
            throw new Error(`not seen within 15 s: ${what}`);
        }
        await sleep(100);
    }
}

/** The wizard shows "Actualiser" while the agent's job runs: press it until the result shows.
 * Each press waits a few seconds in Odoo; between presses the agent may call Odoo back. */
function untilImportDone(what) {
    return {
        content: `the ${what} finishes in the agent`,
        trigger: ".modal .o_form_view",
        // Odoo 17 counts the step's time until its run is over (18 and 19 until it starts).
        ...(session.server_version_info[0] < 18 ? { timeout: 200000 } : {}),
        async run() {
            const deadline = Date.now() + 180000;
            for (;;) {
                const refresh = document.querySelector('.modal button[name="action_refresh"]');
                const start = document.querySelector(
                    '.modal button[name="action_start"], .modal button[name="action_import_now"]'
                );
                const busy = document.querySelector(".modal button:disabled");
                if (!refresh && !busy && document.querySelector(".modal .o_form_view")) {
                    // The result: the runs' list of the wizard, no button still busy.
                    if (document.querySelector('.modal div[name="run_ids"] .o_data_row')) {
                        return;
                    }
                    if (start && !busy) {
                        throw new Error(`the ${what} did not start`);
                    }
                }
                if (Date.now() > deadline) {
                    throw new Error(`the ${what} did not finish in 180 s`);
                }
                if (refresh && !busy) {
                    await sleep(1000);
                    if (document.contains(refresh) && !refresh.disabled) {
                        refresh.click();
                    }
                }
                await sleep(250);
            }
        },
    };
}

function rowsIn(selector) {
    return document.querySelectorAll(`${selector} .o_data_row`).length;
}

// 17 and 18 mark the tours run by tests; 19 refuses the key.
const TEST = session.server_version_info[0] < 19 ? { test: true } : {};

/** Odoo 17 looks for a trigger inside the open dialog, if any: there, ".modal X" is "X". */
function forSeries(steps) {
    if (session.server_version_info[0] >= 18) {
        return steps;
    }
    const inDialog = (selector) =>
        selector
            .split(/,\s*/)
            .map((one) => (one === ".modal" ? ".modal-body" : one.replace(/^\.modal /, "")))
            .join(", ");
    return steps.map((step) => ({ ...step, trigger: inDialog(step.trigger) }));
}

registry.category("web_tour.tours").add("payflow_journey", {
    ...TEST,
    steps: () => forSeries([
        // A new dossier, from Odoo alone.
        seen(".o_list_view, .o_view_nocontent", "the dossiers (empty)"),
        french("the dossiers"),
        click(".o_list_button_add", "Nouveau"),
        edit('.o_form_view div[name="silae_dossier_id"] input', "100200", "the Silae dossier, from the picker"),
        click(".o-autocomplete--dropdown-item:contains(100200)"),
        seen('.o_form_view div[name="silae_number"]:contains(100200), .o_form_view div[name="silae_number"] input'),
        edit('.o_form_view div[name="name"] input', "ACME Services"),
        // Its payroll journal, created from the dossier form.
        edit('.o_form_view div[name="journal_id"] input', "Salaires"),
        click(".o_m2o_dropdown_option_create_edit", "Créer et modifier…"),
        seen('.modal .o_form_view div[name="type"]', "the journal form, from the dossier"),
        french("the new journal", ".modal .o_form_view"),
        click(".modal .o_form_button_save"),
        {
            content: "the dossier has its new journal",
            trigger: 'body:not(:has(.modal)) .o_form_view div[name="journal_id"] input',
            async run() {
                await waitFor("the new journal on the dossier", () => {
                    const input = document.querySelector('.o_form_view div[name="journal_id"] input');
                    return !document.querySelector(".modal") && input && input.value.includes("Salaires");
                });
            },
        },
        french("the new dossier"),
        click(".o_form_button_save"),
        seen('.o_form_view .o_form_saved, .o_form_view button[name="action_payflow_import"]'),
        french("the saved dossier"),
        // The first preview: the company's chart lacks accounts of the payroll.
        click('.o_form_view button[name="action_payflow_import"]', "Importer une paie"),
        seen('.modal div[name="periods"] input'),
        french("the import wizard", ".modal"),
        edit('.modal div[name="periods"] input', "2026-10"),
        click('.modal div[name="dry_run"] input', "Aperçu seulement"),
        click('.modal button[name="action_start"]'),
        untilImportDone("first preview"),
        seen('.modal .alert-warning', "a failed preview is a warning"),
        seen('.modal button[name="action_create_missing_accounts"]'),
        french("the failed preview", ".modal"),
        // The missing accounts, created in one confirmation.
        click('.modal button[name="action_create_missing_accounts"]', "Créer les comptes manquants"),
        seen('.modal div[name="line_ids"] .o_data_row'),
        {
            content: "the four accounts the payroll lacks are listed",
            trigger: '.modal div[name="line_ids"] .o_data_row',
            run() {
                const rows = rowsIn('.modal div[name="line_ids"]');
                if (rows !== 4) {
                    throw new Error(`${rows} missing accounts listed, 4 expected`);
                }
            },
        },
        french("the missing accounts", ".modal"),
        click('.modal .modal-footer button[name="action_confirm"]', "Créer les comptes"),
        // Back in the import wizard, the same periods, to preview again.
        seen('.modal button[name="action_start"]', "the wizard is back, ready to preview again"),
        french("the wizard after the accounts", ".modal"),
        click('.modal button[name="action_start"]'),
        untilImportDone("second preview"),
        seen('.modal .alert-success', "the preview found nothing wrong"),
        {
            content: "the preview shows the 13 lines of the payroll",
            trigger: '.modal div[name="line_ids"] .o_data_row',
            run() {
                const rows = rowsIn('.modal div[name="line_ids"]');
                if (rows !== 13) {
                    throw new Error(`${rows} previewed lines, 13 expected`);
                }
            },
        },
        french("the good preview", ".modal"),
        // Import now, and the entry linked at once, by its name.
        click('.modal button[name="action_import_now"]', "Importer maintenant"),
        untilImportDone("import"),
        {
            content: "the imported entry is linked at once, by name",
            trigger: '.modal div[name="run_ids"] .o_data_row td[name="move_names"]',
            run() {
                const cell = document.querySelector('.modal div[name="run_ids"] .o_data_row td[name="move_names"]');
                const text = cell.innerText.trim();
                // Odoo 19 numbers a draft only when it is posted: it is shown by its id.
                const named = session.server_version_info[0] >= 19 ? /\S/ : /^SAL\/2026\/10\/\d+$/;
                if (!named.test(text)) {
                    throw new Error(`the run's entries read "${text}"`);
                }
            },
        },
        french("the import's result", ".modal"),
        // The import log, then the run.
        click('.modal button[name="action_open_runs"]', "Ouvrir dans le journal des imports"),
        seen('body:not(:has(.modal)) .o_list_view .o_data_row td[name="status"]', "the import log"),
        french("the import log"),
        click('.o_list_view .o_data_row td[name="period"]'),
        seen('.o_form_view button[name="action_payflow_open_moves"]', "the run, with its entries"),
        french("the run"),
        click('.o_form_view button[name="action_payflow_open_moves"]', "Pièces"),
        seen('.o_form_view div[name="line_ids"] .o_data_row', "the entry with its lines"),
        french("the imported entry"),
    ]),
});

registry.category("web_tour.tours").add("payflow_community_lines", {
    ...TEST,
    steps: () => [
        seen('.o_list_view .o_data_row td[name="status"]', "the import log"),
        french("the import log of a Community accountant"),
        click('.o_list_view .o_data_row.text-success td[name="period"]', "the imported run"),
        click('.o_form_view button[name="action_payflow_open_moves"]', "Pièces"),
        {
            content: "the entry's lines are visible",
            trigger: '.o_form_view div[name="line_ids"] .o_data_row',
            run() {
                const rows = rowsIn('.o_form_view div[name="line_ids"]');
                if (rows < 13) {
                    throw new Error(`${rows} lines visible, 13 expected`);
                }
            },
        },
        french("the entry of a Community accountant"),
    ],
});
