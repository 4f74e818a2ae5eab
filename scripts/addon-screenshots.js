// Drives headless Chromium through the addon's screens and saves PNGs (see addon-screenshots).
// Usage: node addon-screenshots.js ODOO_URL OUT_DIR   (NODE_PATH must hold playwright-core)
const { chromium } = require("playwright-core");

const [odoo, out] = process.argv.slice(2);

async function settle(page) {
  // Odoo keeps a bus connection open: no "network idle"; wait for its loading marker instead.
  await page.waitForSelector(".o_loading_indicator", { state: "detached" }).catch(() => {});
  await page.waitForTimeout(1500);
}

async function shot(page, name) {
  await settle(page);
  await page.screenshot({ path: `${out}/${name}.png` });
  console.log(`${out}/${name}.png`);
}

(async () => {
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--disable-sync",
    ],
  });
  const page = await browser.newPage({ viewport: { width: 1600, height: 900 }, locale: "fr-FR" });
  await page.goto(`${odoo}/web/login`);
  await page.fill("input[name=login]", "admin");
  await page.fill("input[name=password]", "admin");
  await Promise.all([page.waitForNavigation(), page.click("button[type=submit]")]);

  // Dossiers: the menu entry refreshes the mirror from the agent.
  await page.goto(`${odoo}/odoo/action-payflow_silae.payflow_dossier_action_open`);
  await page.waitForSelector(".o_list_view .o_data_row");
  await shot(page, "payflow_dossiers");

  await page.click(".o_data_row:has-text('ACME Paris-Lyon') td[name=name]");
  await page.waitForSelector(".o_form_view");
  await page.click("a[role=tab]:has-text('Analytique')").catch(() => {});
  await shot(page, "payflow_dossier_form");

  // The import log, failures in red.
  await page.goto(`${odoo}/odoo/action-payflow_silae.payflow_run_action_open`);
  await page.waitForSelector(".o_list_view .o_data_row");
  await shot(page, "payflow_import_log");

  // The wizard from a dossier: a preview (dry run) of October.
  await page.goto(`${odoo}/odoo/action-payflow_silae.payflow_dossier_action`);
  await page.waitForSelector(".o_list_view .o_data_row");
  await page.click(".o_data_row:has-text('ACME Paris-Lyon') td[name=name]");
  await page.waitForSelector(".o_form_view");
  await page.click("button[name=action_payflow_import]");
  await page.waitForSelector(".modal .o_form_view");
  await page.fill(".modal div[name=periods] input", "2026-10");
  await page.click(".modal div[name=dry_run] input");
  await shot(page, "payflow_import_wizard");
  await page.click(".modal button[name=action_start]");
  await page.waitForSelector(".modal div[name=line_ids] .o_data_row", { timeout: 60000 });
  await shot(page, "payflow_import_preview");

  // The settings block (system administrators): URL, write-only token, Test the agent.
  await page.goto(`${odoo}/odoo/action-account.action_account_config`);
  await page.waitForSelector("#payflow_agent_setting");
  await page.locator("#payflow_agent_setting").scrollIntoViewIfNeeded();
  await page.evaluate(() => window.scrollBy(0, 0));
  await shot(page, "payflow_settings");

  await browser.close();
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
