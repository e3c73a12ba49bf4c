// What every editor journey shares: Debian's Chromium through playwright-core, and one JSON line out.
import { chromium } from "playwright-core";
import path from "node:path";

/** Runs `journey(page, result)` in a fresh headless Chromium; failures land in `result.error`. */
export async function drive(outDir, name, result, journey) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
    timeout: 60_000,
  });
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  try {
    await journey(page);
  } catch (error) {
    result.error = String(error);
  } finally {
    await page.screenshot({ path: path.join(outDir, `${name}.png`) }).catch(() => undefined);
    await browser.close();
  }
  console.log(JSON.stringify(result));
}

/** The text of `selector`'s ghost text once it is non-empty (it appears empty while the suggestion
 * streams, then fills in), or "" after `timeoutMs`; read again after a short settle. */
export async function ghostText(page, selector, timeoutMs = 120_000) {
  const ghost = page.locator(selector);
  const read = async () => (await ghost.allInnerTexts()).join("\n");
  const startedAt = Date.now();
  while (Date.now() - startedAt < timeoutMs && !(await read()).trim()) {
    await page.waitForTimeout(250);
  }
  await page.waitForTimeout(500);
  return read();
}
