// tabwise ghost text in JupyterLab: an inline completion provider that asks the tabwise server extension
// over its websocket (jupyter-ai 2.x's message shapes), with the notebook's other cells as context.
import { JupyterFrontEnd, JupyterFrontEndPlugin } from "@jupyterlab/application";
import {
  CompletionHandler,
  ICompletionProviderManager,
  IInlineCompletionContext,
  IInlineCompletionItem,
  IInlineCompletionList,
  IInlineCompletionProvider,
} from "@jupyterlab/completer";
import { URLExt } from "@jupyterlab/coreutils";
import { INotebookTracker, NotebookPanel } from "@jupyterlab/notebook";
import { ServerConnection } from "@jupyterlab/services";

interface Reply {
  type: "inline_completion" | "stream";
  reply_to: number;
  done?: boolean;
  list?: { items: IInlineCompletionItem[] };
  response?: IInlineCompletionItem;
  error?: { title: string };
}

/** One websocket for the whole page; requests are numbered and replies matched by number. */
class Connection {
  private socket: WebSocket | null = null;
  private opening: Promise<WebSocket> | null = null;
  private next = 1;
  private waiting = new Map<number, (reply: Reply) => void>();
  private streams = new Map<number, Reply[]>();
  private wakeups = new Map<number, () => void>();

  private open(): Promise<WebSocket> {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      return Promise.resolve(this.socket);
    }
    if (!this.opening) {
      const settings = ServerConnection.makeSettings();
      let url = URLExt.join(settings.wsUrl, "tabwise", "inline");
      if (settings.token) {
        url += `?token=${encodeURIComponent(settings.token)}`; // as JupyterLab's own kernel sockets do
      }
      this.opening = new Promise((resolve, reject) => {
        const socket = new WebSocket(url);
        socket.onopen = () => resolve(socket);
        socket.onerror = () => reject(new Error("tabwise: cannot reach the server extension"));
        socket.onclose = () => {
          this.socket = null;
          this.opening = null;
        };
        socket.onmessage = (event) => this.receive(JSON.parse(event.data) as Reply);
        this.socket = socket;
      });
    }
    return this.opening;
  }

  private receive(reply: Reply): void {
    if (reply.type === "stream") {
      this.streams.get(reply.reply_to)?.push(reply);
      this.wakeups.get(reply.reply_to)?.();
      return;
    }
    this.waiting.get(reply.reply_to)?.(reply);
    this.waiting.delete(reply.reply_to);
  }

  async request(body: Record<string, unknown>): Promise<[number, Reply]> {
    const socket = await this.open();
    const number = this.next++;
    this.streams.set(number, []);
    const reply = new Promise<Reply>((resolve) => this.waiting.set(number, resolve));
    socket.send(JSON.stringify({ ...body, number, stream: true }));
    return [number, await reply];
  }

  /** The stream updates of request `number` until it is done. */
  async *updates(number: number): AsyncGenerator<Reply> {
    const queue = this.streams.get(number) ?? [];
    try {
      while (true) {
        while (queue.length) {
          const update = queue.shift()!;
          yield update;
          if (update.done) {
            return;
          }
        }
        await new Promise<void>((wake) => this.wakeups.set(number, wake));
      }
    } finally {
      this.streams.delete(number);
      this.wakeups.delete(number);
    }
  }

  cancel(number: number): void {
    this.socket?.send(JSON.stringify({ type: "cancel", number }));
  }

  /** A message that gets no reply (a warm-up). */
  async notify(body: Record<string, unknown>): Promise<void> {
    const socket = await this.open();
    socket.send(JSON.stringify({ ...body, number: this.next++ }));
  }
}

/** The notebook's cells as the server extension reads them, with the index of the one being edited. */
function notebookCells(context: IInlineCompletionContext): { cells?: unknown[]; cell_index?: number; path?: string } {
  const widget = context.widget;
  return widget instanceof NotebookPanel ? cellsOf(widget) : {};
}

function cellsOf(widget: NotebookPanel): { cells: unknown[]; cell_index: number; path: string } {
  const cells = widget.content.widgets.map((cell) => ({
    kind: cell.model.type === "code" ? "code" : "markdown",
    text: cell.model.sharedModel.getSource(),
  }));
  return { cells, cell_index: widget.content.activeCellIndex, path: widget.context.path };
}

class TabwiseProvider implements IInlineCompletionProvider {
  readonly identifier = "tabwise";
  readonly name = "tabwise";
  // A small model on a CPU needs more than the default 5 s for a first suggestion; typing pauses first.
  readonly schema = { default: { timeout: 30000, debouncerDelay: 200, autoFillInMiddle: true } };
  private connection = new Connection();
  private lastRequest = 0;

  async fetch(request: CompletionHandler.IRequest, context: IInlineCompletionContext): Promise<IInlineCompletionList> {
    if (this.lastRequest) {
      this.connection.cancel(this.lastRequest); // the user typed on: the older request is stale
    }
    const notebook = notebookCells(context);
    const [number, reply] = await this.connection.request({
      prefix: request.text.slice(0, request.offset),
      suffix: request.text.slice(request.offset),
      language: "python",
      ...notebook,
    });
    this.lastRequest = number;
    if (reply.error) {
      console.warn(`tabwise: ${reply.error.title}`);
    }
    return { items: reply.list?.items ?? [] };
  }

  /** The user moved to a cell: the engine evaluates the prompt at its cursor ahead of the first keystroke
   * there (its warm-up policy decides when), so that the first suggestion does not pay for the notebook. */
  warm(panel: NotebookPanel | null): void {
    const cell = panel?.content.activeCell;
    const editor = cell?.editor;
    if (!panel || !cell || !editor || cell.model.type !== "code") {
      return;
    }
    const text = cell.model.sharedModel.getSource();
    const offset = editor.getOffsetAt(editor.getCursorPosition());
    const body = { prefix: text.slice(0, offset), suffix: text.slice(offset), language: "python", ...cellsOf(panel) };
    this.connection.notify({ type: "warm", ...body }).catch(() => undefined); // a warm-up is only a hint
  }

  async *stream(token: string): AsyncGenerator<{ response: IInlineCompletionItem }, undefined, unknown> {
    for await (const update of this.connection.updates(Number(token))) {
      if (update.response) {
        yield { response: update.response };
      }
    }
    return undefined;
  }
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: "tabwise-jupyterlab:inline-completion",
  description: "Ghost text from tabwise's local model in notebooks.",
  autoStart: true,
  requires: [ICompletionProviderManager, INotebookTracker],
  activate: (app: JupyterFrontEnd, manager: ICompletionProviderManager, notebooks: INotebookTracker): void => {
    const provider = new TabwiseProvider();
    manager.registerInlineProvider(provider);
    notebooks.activeCellChanged.connect((tracker) => provider.warm(tracker.currentWidget));
  },
};

export default plugin;
