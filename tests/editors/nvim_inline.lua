-- Neovim's built-in LSP client asks tabwise for an inline completion.
-- Run as: nvim --headless --clean -n -c 'luafile nvim_inline.lua' with TABWISE_* variables set.
local out = os.getenv("TABWISE_OUT")
local function finish(result)
  local file = assert(io.open(out, "w"))
  file:write(vim.json.encode(result))
  file:close()
  vim.cmd("qall!")
end

local ok, err = pcall(function()
  vim.cmd.edit(os.getenv("TABWISE_FILE"))
  vim.bo.filetype = "python"
  local buf = vim.api.nvim_get_current_buf()
  local client_id = vim.lsp.start({
    name = "tabwise",
    cmd = { os.getenv("TABWISE_PYTHON"), "-m", "lsp_server" },
    root_dir = vim.fs.dirname(os.getenv("TABWISE_FILE")),
    init_options = { modelPath = os.getenv("TABWISE_MODEL_FILE"), threads = 1, preload = false },
  }, { bufnr = buf })
  assert(vim.wait(30000, function()
    return vim.lsp.get_client_by_id(client_id) ~= nil and vim.lsp.get_client_by_id(client_id).initialized
  end, 50), "the server did not initialize")
  local client = vim.lsp.get_client_by_id(client_id)
  local line = tonumber(os.getenv("TABWISE_LINE"))
  local character = tonumber(os.getenv("TABWISE_CHARACTER"))
  local response = client:request_sync("textDocument/inlineCompletion", {
    textDocument = vim.lsp.util.make_text_document_params(buf),
    position = { line = line, character = character },
    context = { triggerKind = 1 },
  }, 120000, buf)
  local capabilities = client.server_capabilities
  client:stop()
  finish({
    advertised = capabilities.inlineCompletionProvider ~= nil,
    response = response,
  })
end)
if not ok then
  finish({ error = tostring(err) })
end
