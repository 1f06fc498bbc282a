/* MIME table: every listed extension resolves, case-insensitively, defaults are sane. */
#include <string.h>

#include "eddy/http_static.h"
#include "../../lib/test.h"

static const char *const exts[] = {
    "3gp",  "7z",   "aac",    "apng",  "atom", "avi",  "avif", "bin",      "bmp",  "bz2",
    "c",    "cjs",  "conf",   "css",   "csv",  "doc",  "docx", "eot",      "epub", "flac",
    "gif",  "gz",   "h",      "htm",   "html", "ico",  "ics",  "jar",      "jpeg", "jpg",
    "js",   "json", "jsonld", "log",   "m3u8", "m4a",  "m4v",  "manifest", "map",  "md",
    "mid",  "midi", "mjs",    "mkv",   "mov",  "mp3",  "mp4",  "mpeg",     "mpg",  "odp",
    "ods",  "odt",  "oga",    "ogg",   "ogv",  "opus", "otf",  "pdf",      "png",  "ppt",
    "pptx", "rar",  "rss",    "rtf",   "sh",   "svg",  "svgz", "tar",      "tif",  "tiff",
    "toml", "ts",   "tsv",    "ttf",   "txt",  "wasm", "wav",  "weba",     "webm", "webmanifest",
    "webp", "woff", "woff2",  "xhtml", "xls",  "xlsx", "xml",  "xz",       "yaml", "yml",
    "zip",  "zst"};

static const char *mime(const char *p)
{
    return eddy_http_mime_type(p, strlen(p));
}

static void test_mime_table_has_at_least_60_types(void)
{
    ASSERT_GE(eddy_http_mime_count(), 60);
    ASSERT_EQ(eddy_http_mime_count(), sizeof exts / sizeof exts[0]);
}

/* Also proves the table is sorted: bsearch would miss entries otherwise. */
static void test_mime_every_extension_found(void)
{
    char name[64];
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
        strcpy(name, "/dir/file.");
        strcat(name, exts[i]);
        const char *t = mime(name);
        if (strcmp(exts[i], "bin") != 0 && strcmp(t, "application/octet-stream") == 0)
            ASSERT_STR_EQ(name, "an extension the table should know");
    }
}

static void test_mime_common_types(void)
{
    ASSERT_STR_EQ(mime("/index.html"), "text/html; charset=utf-8");
    ASSERT_STR_EQ(mime("/a/style.css"), "text/css; charset=utf-8");
    ASSERT_STR_EQ(mime("/app.js"), "text/javascript; charset=utf-8");
    ASSERT_STR_EQ(mime("/x.json"), "application/json");
    ASSERT_STR_EQ(mime("/p.png"), "image/png");
    ASSERT_STR_EQ(mime("/p.jpg"), "image/jpeg");
    ASSERT_STR_EQ(mime("/f.woff2"), "font/woff2");
    ASSERT_STR_EQ(mime("/r.txt"), "text/plain; charset=utf-8");
    ASSERT_STR_EQ(mime("/v.svg"), "image/svg+xml");
}

static void test_mime_case_insensitive(void)
{
    ASSERT_STR_EQ(mime("/INDEX.HTML"), "text/html; charset=utf-8");
    ASSERT_STR_EQ(mime("/Photo.JpG"), "image/jpeg");
}

static void test_mime_defaults(void)
{
    ASSERT_STR_EQ(mime("/README"), "application/octet-stream");
    ASSERT_STR_EQ(mime("/a.unknownext"), "application/octet-stream");
    ASSERT_STR_EQ(mime("/dir.html/file"), "application/octet-stream");
    ASSERT_STR_EQ(mime("/.html"), "application/octet-stream"); /* a dotfile, no extension */
    ASSERT_STR_EQ(mime("/a."), "application/octet-stream");
    ASSERT_STR_EQ(mime(""), "application/octet-stream");
    ASSERT_STR_EQ(mime("/x.averyveryverylongextension"), "application/octet-stream");
    ASSERT_STR_EQ(mime("/archive.tar.gz"), "application/gzip");
}

static void test_mime_uses_len_not_nul(void)
{
    ASSERT_STR_EQ(eddy_http_mime_type("/a.css.png", 6), "text/css; charset=utf-8");
}

int main(void)
{
    RUN(test_mime_table_has_at_least_60_types);
    RUN(test_mime_every_extension_found);
    RUN(test_mime_common_types);
    RUN(test_mime_case_insensitive);
    RUN(test_mime_defaults);
    RUN(test_mime_uses_len_not_nul);
    return eddy_test_done();
}
