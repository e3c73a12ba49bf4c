// Drives JupyterLab in Debian's Chromium as a person would: open a notebook, type at the end of a code
// cell, wait for tabwise's ghost text, accept it with Tab, run a %%ask cell, save.
// Usage: node jupyterlab_drive.mjs URL TYPED OUT_DIR. Prints one JSON line with what it saw.
import { drive, ghostText } from "./browser.mjs";
import path from "node:path";

const [url, typed, outDir] = process.argv.slice(2);
const result = { ghost: "", cell: "", answer: "", steps: [] };
const step = (name) => result.steps.push(name);

await drive(outDir, "jupyterlab", result, async (page) => {
  await page.goto(url, { timeout: 60_000 });
  const cells = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell");
  await cells.nth(2).waitFor({ timeout: 120_000 });
  await page.locator(".jp-StatusBar-Item", { hasText: "| Idle" }).first().waitFor({ timeout: 120_000 });
  step("kernel idle");

  // Run > Run All Cells (load the extension, %%ask, the function), as a person would: again if nothing
  // started (a kernel that has just connected can drop the first request); then wait for the answer.
  for (let attempt = 0; attempt < 3; attempt++) {
    await page.locator(".lm-MenuBar-item", { hasText: "Run" }).first().click();
    await page.locator(".lm-Menu-itemLabel", { hasText: /^Run All Cells$/ }).click();
    const started = cells.nth(0).locator(".jp-InputPrompt", { hasText: /\[\d+\]/ });
    if (await started.waitFor({ timeout: 20_000 }).then(() => true, () => false)) {
      break;
    }
  }
  const answer = cells.nth(1).locator(".jp-OutputArea .jp-RenderedMarkdown");
  await answer.first().waitFor({ timeout: 240_000 });
  const deadline = Date.now() + 240_000; // the output is redrawn in place as the answer streams
  while (Date.now() < deadline && (!result.answer || result.answer.includes("thinking"))) {
    await page.waitForTimeout(500);
    result.answer = (await answer.first().innerText().catch(() => "")).trim();
  }
  await page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").first().waitFor({ timeout: 240_000 }).catch(() => undefined);
  result.answer = (await answer.first().innerText()).trim();
  step("asked");

  // Type at the end of the third cell; the ghost text comes from the server's engine.
  const editor = cells.nth(2).locator(".cm-content");
  await editor.click();
  await page.keyboard.press("Control+End");
  await page.keyboard.type(typed, { delay: 60 });
  step("typed");
  result.ghost = await ghostText(page, ".jp-GhostText");
  const ghost = page.locator(".jp-GhostText");
  await page.screenshot({ path: path.join(outDir, "jupyterlab-ghost-text.png") });
  await page.keyboard.press("Tab");
  await ghost.first().waitFor({ state: "detached", timeout: 10_000 }).catch(() => undefined);
  result.cell = await editor.innerText();
  await page.keyboard.press("Escape");
  await page.keyboard.press("Control+S");
  await page.waitForTimeout(1500);
  step("accepted and saved");
});
