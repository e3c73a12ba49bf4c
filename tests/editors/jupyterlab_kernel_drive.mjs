// Drives JupyterLab in Debian's Chromium as a person would: open a notebook whose first cell reads a CSV
// file, run that cell, then type `df["` in the next cell and wait for tabwise's ghost text (the column
// names are only in the CSV file: the kernel's variables are what tells the model).
// Usage: node jupyterlab_kernel_drive.mjs URL TYPED OUT_DIR. Prints one JSON line with what it saw.
import { drive, ghostText } from "./browser.mjs";
import path from "node:path";

const [url, typed, outDir] = process.argv.slice(2);
const result = { ghost: "", cell: "", steps: [] };
const step = (name) => result.steps.push(name);

await drive(outDir, "jupyterlab-kernel", result, async (page) => {
  await page.goto(url, { timeout: 60_000 });
  const cells = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell");
  await cells.nth(1).waitFor({ timeout: 120_000 });
  await page.locator(".jp-StatusBar-Item", { hasText: "| Idle" }).first().waitFor({ timeout: 120_000 });
  step("kernel idle");

  // Run the first cell (Shift+Enter), again if nothing started (a kernel that has just connected can drop
  // the first request), until its prompt shows an execution count and the kernel is idle again.
  const ran = cells.nth(0).locator(".jp-InputPrompt", { hasText: /\[\d+\]/ });
  for (let attempt = 0; attempt < 3; attempt++) {
    await cells.nth(0).locator(".cm-content").click();
    await page.keyboard.press("Shift+Enter");
    if (await ran.waitFor({ timeout: 30_000 }).then(() => true, () => false)) {
      break;
    }
  }
  await ran.waitFor({ timeout: 10_000 });
  await page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").first().waitFor({ timeout: 120_000 }).catch(() => undefined);
  step("csv read");

  const editor = cells.nth(1).locator(".cm-content");
  await editor.click();
  await page.keyboard.type(typed, { delay: 80 });
  step("typed");
  result.ghost = await ghostText(page, ".jp-GhostText");
  result.cell = await editor.innerText();
  await page.screenshot({ path: path.join(outDir, "jupyterlab-kernel-ghost-text.png") });
  step("ghost text");
});
