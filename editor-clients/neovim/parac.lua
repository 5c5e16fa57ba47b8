-- parac language server for Neovim 0.7 and newer: live diagnostics, completion, hover, go to definition, rename
-- and code actions for the files under .parac/ (agents, skills, workflows, policies, parac.yaml).
--
-- Use it as it is (`nvim -u parac.lua`), source it from your init.lua (`dofile("/path/to/parac.lua")`), or put it
-- on your runtimepath as lua/parac.lua and `require("parac")`. It starts one `parac lsp` per parac workspace (the
-- directory holding .parac/) when a file under .parac/ is opened, and attaches every such buffer to it.
--
-- The command is `vim.g.parac_cmd` when set, read each time a server starts, e.g.
--   vim.g.parac_cmd = { "/path/to/venv/bin/python", "-P", "-m", "parac.server.cli", "lsp" }
-- or from the command line: nvim --cmd "let g:parac_cmd = ['parac', 'lsp']" -u parac.lua FILE
--
-- Written against the API of Debian's Neovim 0.7.2 (vim.lsp.start_client + vim.lsp.buf_attach_client), which
-- has neither vim.lsp.start (0.8) nor vim.fs (0.8); see README.md for the shorter 0.10+ form.

local M = {}

M.default_cmd = { "parac", "lsp" }

-- The files the server handles; `*` in an autocmd pattern also matches `/`, so these cover every depth.
M.patterns = { "*/.parac/*.yaml", "*/.parac/*.yml", "*/.parac/*.md" }

-- parac workspace root -> id of the client serving it.
local clients = {}

--- The directory holding the nearest .parac/ at or above `path`, or nil.
function M.root_dir(path)
  local start = vim.fn.fnamemodify(path, ":p:h")
  -- finddir takes a 'path'-style list: escape the separators that may occur in a directory name.
  local found = vim.fn.finddir(".parac", vim.fn.escape(start, ", ") .. ";")
  if found == "" then
    return nil
  end
  -- ":p" makes it absolute with a trailing slash, the first ":h" drops the slash, the second drops ".parac".
  return vim.fn.fnamemodify(found, ":p:h:h")
end

local function command()
  local cmd = vim.g.parac_cmd
  if type(cmd) == "string" and cmd ~= "" then
    return { cmd }
  end
  if type(cmd) == "table" and #cmd > 0 then
    return cmd
  end
  return M.default_cmd
end

--- The client for `root`, started on first use; nil when the server cannot be started.
function M.client_for(root)
  local id = clients[root]
  if id ~= nil and vim.lsp.get_client_by_id(id) ~= nil then
    return id
  end
  local cmd = command()
  id = vim.lsp.start_client({
    name = "parac",
    cmd = cmd,
    cmd_cwd = root,
    root_dir = root,
    workspace_folders = { { uri = vim.uri_from_fname(root), name = vim.fn.fnamemodify(root, ":t") } },
    on_exit = function(code, signal)
      clients[root] = nil
      if code ~= 0 then
        vim.schedule(function()
          vim.notify(
            string.format("parac lsp (%s) exited with code %d, signal %d", table.concat(cmd, " "), code, signal),
            vim.log.levels.WARN
          )
        end)
      end
    end,
  })
  if id == nil then
    vim.notify("parac: could not start " .. table.concat(cmd, " ") .. " (set vim.g.parac_cmd)", vim.log.levels.ERROR)
    return nil
  end
  clients[root] = id
  return id
end

--- Attaches buffer `bufnr` to its workspace's server when it is a file under .parac/.
function M.attach(bufnr)
  local name = vim.api.nvim_buf_get_name(bufnr)
  if name == "" then
    return
  end
  local root = M.root_dir(name)
  if root == nil then
    return
  end
  local id = M.client_for(root)
  if id ~= nil then
    vim.lsp.buf_attach_client(bufnr, id)
    -- Completion with <C-x><C-o>; 0.7 leaves omnifunc unset for LSP buffers.
    vim.api.nvim_buf_set_option(bufnr, "omnifunc", "v:lua.vim.lsp.omnifunc")
  end
end

local group = vim.api.nvim_create_augroup("parac_lsp", { clear = true })
vim.api.nvim_create_autocmd({ "BufReadPost", "BufNewFile" }, {
  group = group,
  pattern = M.patterns,
  callback = function(args)
    M.attach(args.buf)
  end,
  desc = "Attach .parac/ files to parac lsp",
})

return M
