rockspec_format = "3.0"
package = "alimtalk"
version = "scm-1"
source = { url = "git+file:///dev/null" }
description = {
  summary = "KakaoTalk AlimTalk for Lua: SENS, BizMessage, API PLEX and Sinch, with a sandbox",
  license = "MIT",
}
dependencies = { "lua >= 5.1" }
external_dependencies = {
  -- Debian keeps curl.h under a multiarch folder luarocks does not search: find the library.
  CURL = { library = "curl" },
  OPENSSL = { header = "openssl/evp.h" },
}
build = {
  type = "builtin",
  modules = {
    ["alimtalk.core"] = {
      sources = { "src/core.c", "src/sign.c", "src/http.c", "src/limits.c" },
      libraries = { "curl", "crypto" },
      incdirs = { "$(CURL_INCDIR)", "$(OPENSSL_INCDIR)" },
      libdirs = { "$(CURL_LIBDIR)", "$(OPENSSL_LIBDIR)" },
    },
    ["alimtalk"] = "lua/alimtalk/init.lua",
    ["alimtalk.errors"] = "lua/alimtalk/errors.lua",
    ["alimtalk.cli"] = "lua/alimtalk/cli/init.lua",
  },
  install = { bin = { alimtalk = "bin/alimtalk" } },
}
