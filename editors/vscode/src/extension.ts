// The tabwise extension: starts `tabwise lsp` and lets vscode-languageclient wire up inline completion,
// the completion fallback and code actions. What the client cannot do by itself lives here: choosing the
// Python environment, the "Explain selection" panel fed by the server's $/progress, and the status bar.
import * as fs from "node:fs";
import * as path from "node:path";
import * as vscode from "vscode";
import {
  ExecuteCommandRequest,
  LanguageClient,
  type LanguageClientOptions,
  type ServerOptions,
  State,
  WorkDoneProgress,
  type WorkDoneProgressBegin,
  type WorkDoneProgressReport,
  type WorkDoneProgressEnd,
} from "vscode-languageclient/node";

const SERVER_EXPLAIN = "tabwise.explain"; // the server's command: [uri, range] -> Markdown
const STATUS_REQUEST = "tabwise/status";

interface ServerStatus {
  state: string;
  model: string | null;
  device: string | null;
  error: string | null;
  lastLatencyMs: number;
  debounceMs: number;
}

let client: LanguageClient | undefined;
let statusItem: vscode.StatusBarItem;
let statusTimer: NodeJS.Timeout | undefined;
let debounceMs = 150; // the server's hint from the typing rhythm: wait this long after a keystroke

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  statusItem = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Right, 100);
  statusItem.name = "tabwise";
  statusItem.command = "tabwise.restart";
  context.subscriptions.push(
    statusItem,
    vscode.commands.registerCommand("tabwise.explainSelection", explainSelection),
    vscode.commands.registerCommand("tabwise.restart", async () => {
      await stop();
      await start(context);
    }),
    vscode.workspace.onDidChangeConfiguration(async (event) => {
      if (event.affectsConfiguration("tabwise.python")) {
        await stop();
        await start(context);
      }
    }),
  );
  await start(context);
}

export async function deactivate(): Promise<void> {
  await stop();
}

/** The command that runs the server: the configured environment's Python, else `tabwise` on PATH. */
function serverCommand(): { command: string; args: string[] } | string {
  const configured = vscode.workspace.getConfiguration("tabwise").get<string>("python", "").trim();
  if (!configured) {
    return { command: "tabwise", args: ["lsp"] };
  }
  const python = configured.startsWith("~") ? path.join(process.env.HOME ?? "", configured.slice(1)) : configured;
  if (!fs.existsSync(python)) {
    return `tabwise.python is set to ${configured}, which does not exist.`;
  }
  return { command: python, args: ["-m", "lsp_server"] };
}

async function start(context: vscode.ExtensionContext): Promise<void> {
  const resolved = serverCommand();
  if (typeof resolved === "string") {
    await cannotStart(resolved);
    return;
  }
  const serverOptions: ServerOptions = { command: resolved.command, args: resolved.args };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [{ scheme: "file" }, { scheme: "untitled" }, { scheme: "vscode-notebook-cell" }],
    initializationOptions: settings(),
    synchronize: { configurationSection: "tabwise" },
    middleware: {
      // Code actions run the server's explain command; route them to the panel that shows the answer.
      provideCodeActions: async (document, range, actionContext, token, next) => {
        const actions = (await next(document, range, actionContext, token)) ?? [];
        return actions.map((action) =>
          action instanceof vscode.CodeAction || action.command !== SERVER_EXPLAIN
            ? action
            : { ...action, command: "tabwise.explainSelection", arguments: [document.uri, range] },
        );
      },
      provideInlineCompletionItems: async (document, position, inlineContext, token, next) => {
        if (inlineContext.triggerKind === vscode.InlineCompletionTriggerKind.Automatic) {
          await new Promise((resolve) => setTimeout(resolve, debounceMs)); // the next key usually comes sooner
          if (token.isCancellationRequested) {
            return undefined;
          }
        }
        const result = await next(document, position, inlineContext, token);
        void refreshStatus();
        return result;
      },
    },
  };
  client = new LanguageClient("tabwise", "tabwise", serverOptions, clientOptions);
  showStatus("$(loading~spin) tabwise", "Starting the language server");
  try {
    await client.start();
  } catch (error) {
    client = undefined;
    await cannotStart(`The language server did not start (${resolved.command} ${resolved.args.join(" ")}): ${error}`);
    return;
  }
  context.subscriptions.push(
    client.onDidChangeState((event) => {
      if (event.newState === State.Stopped) {
        showStatus("$(error) tabwise", "The language server stopped. Click to restart.");
      }
    }),
  );
  statusTimer = setInterval(() => void refreshStatus(), 2000);
  await refreshStatus();
}

async function stop(): Promise<void> {
  if (statusTimer) {
    clearInterval(statusTimer);
    statusTimer = undefined;
  }
  const running = client;
  client = undefined;
  if (running) {
    await running.stop(5000).catch(() => undefined);
  }
}

/** Settings as the server reads them (the `tabwise` section; `python` is the extension's own). */
function settings(): Record<string, unknown> {
  const section = vscode.workspace.getConfiguration("tabwise");
  const names = [
    "modelPath", "gpuLayers", "threads", "maxTokens", "contextTokens", "contextWindow", "timeBudgetMs", "answerTokens",
    "disabledLanguages", "preload", "backend", "backendUrl", "backendModel", "apiKeyFile", "backendFallback", "fimFormat",
  ];
  return Object.fromEntries(names.map((name) => [name, section.get(name)]));
}

async function cannotStart(reason: string): Promise<void> {
  showStatus("$(error) tabwise", reason);
  const fix =
    "Install tabwise in a virtual environment (`make install` in its folder, or `pip install tabwise`) and set " +
    "tabwise.python to that environment's Python, e.g. ~/tabwise/.venv/bin/python.";
  const choice = await vscode.window.showErrorMessage(`tabwise: ${reason} ${fix}`, "Open Settings");
  if (choice === "Open Settings") {
    await vscode.commands.executeCommand("workbench.action.openSettings", "tabwise.python");
  }
}

function showStatus(text: string, tooltip: string): void {
  statusItem.text = text;
  statusItem.tooltip = tooltip;
  statusItem.show();
}

/** The status bar: loading, ready with the model and the last suggestion's latency, or the error. */
async function refreshStatus(): Promise<void> {
  if (!client || client.state !== State.Running) {
    return;
  }
  let now: ServerStatus;
  try {
    now = await client.sendRequest<ServerStatus>(STATUS_REQUEST, {});
  } catch {
    return;
  }
  debounceMs = now.debounceMs ?? debounceMs;
  if (now.error) {
    showStatus("$(error) tabwise", now.error);
  } else if (now.state === "ready") {
    const latency = now.lastLatencyMs > 0 ? ` ${Math.round(now.lastLatencyMs)} ms` : "";
    showStatus(`$(check) tabwise${latency}`, `${now.model} on ${now.device}; last suggestion${latency || ": none yet"}`);
  } else {
    showStatus(`$(loading~spin) tabwise`, `${now.model ?? "model"}: ${now.state}`);
  }
}

/** Explain the selection (or the given range): the server streams Markdown as $/progress into a panel. */
async function explainSelection(uri?: vscode.Uri, range?: vscode.Range): Promise<string | undefined> {
  const editor = vscode.window.activeTextEditor;
  const target = uri ?? editor?.document.uri;
  const selection = range ?? editor?.selection;
  if (!client || client.state !== State.Running) {
    void vscode.window.showWarningMessage("tabwise: the language server is not running.");
    return undefined;
  }
  if (!target || !selection || selection.isEmpty) {
    void vscode.window.showInformationMessage("tabwise: select some code to explain.");
    return undefined;
  }
  const panel = vscode.window.createWebviewPanel("tabwise.explain", "tabwise: Explain", vscode.ViewColumn.Beside, {});
  const show = async (markdown: string, done: boolean): Promise<void> => {
    const html = await vscode.commands.executeCommand<string>("markdown.api.render", markdown || "…");
    panel.webview.html = `<!DOCTYPE html><html><body><div id="tabwise-explanation" data-done="${done}">${html}</div></body></html>`;
  };
  await show("", false);
  const token = `tabwise-explain-${Date.now()}`;
  const progress = client.onProgress(WorkDoneProgress.type, token, (value: WorkDoneProgressBegin | WorkDoneProgressReport | WorkDoneProgressEnd) => {
    if (value.kind === "report" && value.message) {
      void show(value.message, false);
    }
  });
  try {
    const answer = await client.sendRequest(ExecuteCommandRequest.type, {
      command: SERVER_EXPLAIN,
      arguments: [target.toString(), client.code2ProtocolConverter.asRange(selection)],
      workDoneToken: token,
    });
    await show(String(answer ?? ""), true);
    return String(answer ?? "");
  } catch (error) {
    await show(`**tabwise could not explain this:** ${error}`, true);
    return undefined;
  } finally {
    progress.dispose();
  }
}
