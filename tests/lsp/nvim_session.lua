-- Run inside headless Neovim by test_neovim.py, with the buffer under test already opened and attached by
-- editor-clients/neovim/parac.lua: wait for parac's diagnostics, fix the file by editing the buffer, wait for the
-- diagnostics to clear, ask for a hover, and write what happened to $PARAC_NVIM_OUT as JSON.
local report = { steps = {} }

local function diagnostics()
  local out = {}
  for _, d in ipairs(vim.diagnostic.get(0)) do
    local lsp = d.user_data and d.user_data.lsp or {}
    table.insert(out, { lnum = d.lnum, col = d.col, message = d.message, code = d.code or lsp.code })
  end
  return out
end

report.attached = vim.wait(30000, function()
  return #vim.lsp.buf_get_clients(0) > 0
end, 50)
report.diagnosed = vim.wait(30000, function()
  return #vim.diagnostic.get(0) > 0
end, 50)
report.before = diagnostics()

vim.api.nvim_buf_set_lines(0, 0, 1, false, { "parent: base" })
report.cleared = vim.wait(30000, function()
  return #vim.diagnostic.get(0) == 0
end, 50)

local hover = vim.lsp.buf_request_sync(0, "textDocument/hover", {
  textDocument = { uri = vim.uri_from_bufnr(0) },
  position = { line = 0, character = 10 },
}, 30000)
for _, response in pairs(hover or {}) do
  if response.result then
    report.hover = response.result.contents.value
  end
end

vim.fn.writefile({ vim.fn.json_encode(report) }, vim.env.PARAC_NVIM_OUT)
vim.cmd("qa!")
