// Drives VS Code (code-server) in Debian's Chromium as a person would: open a Python file, type, wait for
// the ghost text, accept it with Tab, save; then select code and run "tabwise: Explain selection".
// Usage: node vscode_drive.mjs URL FILE_NAME TYPED OUT_DIR. Prints one JSON line with what it saw.
import { drive } from "./browser.mjs";
import path from "node:path";

const [url, fileName, typed, outDir] = process.argv.slice(2);
const EDITOR = ".editor-group-container";
const GHOST = `${EDITOR} .ghost-text-decoration, ${EDITOR} .ghost-text-decoration-preview, ${EDITOR} .ghost-text`;
const result = { ghost: "", explanation: "", steps: [] };
const step = (name) => result.steps.push(name);

await drive(outDir, "vscode", result, async (page) => {
  await page.goto(url, { timeout: 60_000 });
  await page.locator(".monaco-workbench").waitFor({ timeout: 90_000 });
  step("workbench");

  // The extension is active and the model loaded when its status bar item shows the check mark.
  const ready = page.locator(".statusbar-item", { hasText: "tabwise" }).locator(".codicon-check");
  await ready.waitFor({ timeout: 180_000 });
  step("model ready");

  await page.keyboard.press("Control+P");
  await page.keyboard.type(fileName, { delay: 20 });
  await page.locator(".quick-input-list .monaco-list-row").first().waitFor({ timeout: 30_000 });
  await page.keyboard.press("Enter");
  const editor = page.locator(`${EDITOR} .monaco-editor .view-lines`).first();
  await editor.waitFor({ timeout: 30_000 });
  await editor.click();
  await page.keyboard.press("Control+End");
  await page.keyboard.type(typed, { delay: 60 });
  step("typed");

  const ghost = page.locator(GHOST).first();
  await ghost.waitFor({ timeout: 120_000 });
  await page.waitForTimeout(500); // let the rest of a streamed or multi-line suggestion render
  result.ghost = (await page.locator(GHOST).allTextContents()).join("\n");
  await page.screenshot({ path: path.join(outDir, "vscode-ghost-text.png") });
  await page.keyboard.press("Tab");
  await page.locator(GHOST).first().waitFor({ state: "detached", timeout: 10_000 }).catch(() => undefined);
  await page.keyboard.press("Control+S");
  await page.waitForTimeout(1000);
  step("accepted and saved");

  await page.keyboard.press("Control+A");
  await page.keyboard.press("F1");
  await page.keyboard.type("tabwise: Explain selection", { delay: 20 });
  await page.locator(".quick-input-list .monaco-list-row").first().waitFor({ timeout: 30_000 });
  await page.keyboard.press("Enter");
  step("explain started");
  const deadline = Date.now() + 240_000;
  while (!result.explanation && Date.now() < deadline) {
    for (const frame of page.frames()) {
      const done = frame.locator('#tabwise-explanation[data-done="true"]');
      if (await done.count().catch(() => 0)) {
        result.explanation = (await done.innerText()).trim();
      }
    }
    await page.waitForTimeout(500);
  }
  step("explained");
});
