// Drives headless Chromium through the addon's screens and saves PNGs (see addon-screenshots).
// Usage: node addon-screenshots.js journey|screens ODOO_URL OUT_DIR
//   (NODE_PATH must hold playwright-core)
//   journey: as the admin, ACME Paris-Lyon's first import on Odoo's French chart: the preview
//            lacking accounts, the accounts created, the preview, "Importer maintenant";
//   screens: the dossiers, a dossier, the import log, the settings; then a plain accountant
//            of Community (Invoicing + "Import payrolls") opens an imported entry's lines.
const { chromium } = require("playwright-core");

const [phase, odoo, out] = process.argv.slice(2);

async function settle(page) {
  // Odoo keeps a bus connection open: no "network idle"; wait for its loading marker instead.
  await page.waitForSelector(".o_loading_indicator", { state: "detached" }).catch(() => {});
  await page.waitForTimeout(1200);
}

async function shot(page, name) {
  await settle(page);
  await page.mouse.move(0, 0); // no tooltip in the picture
  await page.waitForTimeout(300);
  await page.screenshot({ path: `${out}/${name}.png` });
  console.log(`${out}/${name}.png`);
}

async function login(browser, user) {
  const page = await browser.newPage({ viewport: { width: 1440, height: 810 }, locale: "fr-FR" });
  page.setDefaultTimeout(90000);
  await page.goto(`${odoo}/web/login`);
  await page.fill("input[name=login]", user);
  await page.fill("input[name=password]", user);
  await page.click("button[type=submit]");
  // The first visit builds the web client's assets: slow on a busy machine.
  await page.waitForSelector(".o_main_navbar", { timeout: 180000 });
  return page;
}

// The wizard follows the agent's job: "Actualiser" until the periods' results show.
async function untilDone(page) {
  const deadline = Date.now() + 120000;
  while (!(await page.locator(".modal div[name=run_ids] .o_data_row").count())) {
    if (Date.now() > deadline) throw new Error("the import did not finish");
    const refresh = page.locator(".modal button[name=action_refresh]");
    // The button goes when the job is done (the dialog is redrawn): a click may find none.
    if (await refresh.count()) await refresh.click({ timeout: 10000 }).catch(() => {});
    await page.waitForTimeout(1000);
  }
}

async function openDossier(page, name) {
  await page.goto(`${odoo}/odoo/action-payflow_silae.payflow_dossier_action_open`);
  await page.waitForSelector(".o_list_view .o_data_row");
  await page.click(`.o_data_row:has-text('${name}') td[name=name]`);
  await page.waitForSelector(".o_form_view button[name=action_payflow_import]");
}

async function journey(browser) {
  const page = await login(browser, "admin");
  await openDossier(page, "ACME Paris-Lyon");
  await page.click("button[name=action_payflow_import]");
  await page.waitForSelector(".modal div[name=periods] input");
  await page.fill(".modal div[name=periods] input", "2026-10");
  await page.click(".modal div[name=dry_run] input");
  await shot(page, "payflow_import_wizard");
  await page.click(".modal button[name=action_start]");
  await untilDone(page);
  await page.waitForSelector(".modal button[name=action_create_missing_accounts]");
  await shot(page, "payflow_import_missing");
  await page.click(".modal button[name=action_create_missing_accounts]");
  await page.waitForSelector(".modal div[name=line_ids] .o_data_row");
  await shot(page, "payflow_missing_accounts");
  await page.click(".modal .modal-footer button[name=action_confirm]");
  await page.waitForSelector(".modal button[name=action_start]");
  await page.click(".modal button[name=action_start]");
  await untilDone(page);
  await page.waitForSelector(".modal div[name=line_ids] .o_data_row");
  await shot(page, "payflow_import_preview");
  await page.click(".modal button[name=action_import_now]");
  // The preview's rows stay until the import's wizard is drawn: wait for its button to go.
  await page.waitForSelector(".modal button[name=action_import_now]", { state: "detached", timeout: 120000 });
  await untilDone(page);
  await shot(page, "payflow_import_done");
}

async function screens(browser) {
  const page = await login(browser, "admin");
  // Dossiers: the menu entry refreshes the mirror from the agent.
  await page.goto(`${odoo}/odoo/action-payflow_silae.payflow_dossier_action_open`);
  await page.waitForSelector(".o_list_view .o_data_row");
  await shot(page, "payflow_dossiers");
  await openDossier(page, "ACME Paris-Lyon");
  await shot(page, "payflow_dossier_form");

  // The import log: failures in red, imports in green, previews greyed.
  await page.goto(`${odoo}/odoo/action-payflow_silae.payflow_run_action_open`);
  await page.waitForSelector(".o_list_view .o_data_row");
  await shot(page, "payflow_import_log");

  // The settings block (system administrators): URL, write-only token, Test the agent.
  await page.goto(`${odoo}/odoo/action-account.action_account_config`);
  await page.waitForSelector("#payflow_agent_setting");
  await page.locator("#payflow_agent_setting").scrollIntoViewIfNeeded();
  await shot(page, "payflow_settings");

  // Community: a plain accountant opens the imported entry of ACME Paris-Lyon from the log.
  const accountant = await login(browser, "comptable");
  await accountant.goto(`${odoo}/odoo/action-payflow_silae.payflow_run_action_open`);
  await accountant.waitForSelector(".o_list_view .o_data_row");
  await accountant.click(".o_data_row.text-success:has-text('ACME Paris-Lyon') td[name=period]");
  await accountant.click(".o_form_view button[name=action_payflow_open_moves]");
  // One entry per establishment: the list of the run's entries, then the first one.
  await accountant.waitForSelector(".o_list_view .o_data_row, .o_form_view div[name=line_ids] .o_data_row");
  if (!(await accountant.locator(".o_form_view div[name=line_ids] .o_data_row").count())) {
    await accountant.click(".o_list_view .o_data_row td[name=name]");
    await accountant.waitForSelector(".o_form_view div[name=line_ids] .o_data_row");
  }
  await shot(accountant, "payflow_community_lines");
}

(async () => {
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--disable-sync",
    ],
  });
  if (phase === "journey") await journey(browser);
  else if (phase === "screens") await screens(browser);
  else throw new Error(`unknown phase ${phase}`);
  await browser.close();
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
