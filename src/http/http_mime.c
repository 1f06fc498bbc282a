/*
 * Built-in MIME table. Sorted by extension so a lookup is a binary search over a
 * lower-cased copy of the extension: no allocation, no global state to initialise.
 */
#include <stdlib.h>
#include <string.h>

#include "eddy/http_static.h"

#define UTF8 "; charset=utf-8"

struct mime {
    const char *ext;
    const char *type;
};

/* Keep sorted by ext (strcmp order): bsearch depends on it, and test_http_static_mime
 * looks up every extension. */
static const struct mime table[] = {
    {"3gp", "video/3gpp"},
    {"7z", "application/x-7z-compressed"},
    {"aac", "audio/aac"},
    {"apng", "image/apng"},
    {"atom", "application/atom+xml"},
    {"avi", "video/x-msvideo"},
    {"avif", "image/avif"},
    {"bin", "application/octet-stream"},
    {"bmp", "image/bmp"},
    {"bz2", "application/x-bzip2"},
    {"c", "text/plain" UTF8},
    {"cjs", "text/javascript" UTF8},
    {"conf", "text/plain" UTF8},
    {"css", "text/css" UTF8},
    {"csv", "text/csv" UTF8},
    {"doc", "application/msword"},
    {"docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
    {"eot", "application/vnd.ms-fontobject"},
    {"epub", "application/epub+zip"},
    {"flac", "audio/flac"},
    {"gif", "image/gif"},
    {"gz", "application/gzip"},
    {"h", "text/plain" UTF8},
    {"htm", "text/html" UTF8},
    {"html", "text/html" UTF8},
    {"ico", "image/x-icon"},
    {"ics", "text/calendar" UTF8},
    {"jar", "application/java-archive"},
    {"jpeg", "image/jpeg"},
    {"jpg", "image/jpeg"},
    {"js", "text/javascript" UTF8},
    {"json", "application/json"},
    {"jsonld", "application/ld+json"},
    {"log", "text/plain" UTF8},
    {"m3u8", "application/vnd.apple.mpegurl"},
    {"m4a", "audio/mp4"},
    {"m4v", "video/mp4"},
    {"manifest", "application/manifest+json"},
    {"map", "application/json"},
    {"md", "text/markdown" UTF8},
    {"mid", "audio/midi"},
    {"midi", "audio/midi"},
    {"mjs", "text/javascript" UTF8},
    {"mkv", "video/x-matroska"},
    {"mov", "video/quicktime"},
    {"mp3", "audio/mpeg"},
    {"mp4", "video/mp4"},
    {"mpeg", "video/mpeg"},
    {"mpg", "video/mpeg"},
    {"odp", "application/vnd.oasis.opendocument.presentation"},
    {"ods", "application/vnd.oasis.opendocument.spreadsheet"},
    {"odt", "application/vnd.oasis.opendocument.text"},
    {"oga", "audio/ogg"},
    {"ogg", "audio/ogg"},
    {"ogv", "video/ogg"},
    {"opus", "audio/opus"},
    {"otf", "font/otf"},
    {"pdf", "application/pdf"},
    {"png", "image/png"},
    {"ppt", "application/vnd.ms-powerpoint"},
    {"pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation"},
    {"rar", "application/vnd.rar"},
    {"rss", "application/rss+xml"},
    {"rtf", "application/rtf"},
    {"sh", "text/x-shellscript" UTF8},
    {"svg", "image/svg+xml"},
    {"svgz", "image/svg+xml"},
    {"tar", "application/x-tar"},
    {"tif", "image/tiff"},
    {"tiff", "image/tiff"},
    {"toml", "application/toml"},
    {"ts", "video/mp2t"},
    {"tsv", "text/tab-separated-values" UTF8},
    {"ttf", "font/ttf"},
    {"txt", "text/plain" UTF8},
    {"wasm", "application/wasm"},
    {"wav", "audio/wav"},
    {"weba", "audio/webm"},
    {"webm", "video/webm"},
    {"webmanifest", "application/manifest+json"},
    {"webp", "image/webp"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"xhtml", "application/xhtml+xml"},
    {"xls", "application/vnd.ms-excel"},
    {"xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
    {"xml", "text/xml" UTF8},
    {"xz", "application/x-xz"},
    {"yaml", "application/yaml"},
    {"yml", "application/yaml"},
    {"zip", "application/zip"},
    {"zst", "application/zstd"},
};

#define NTABLE  (sizeof table / sizeof table[0])
#define MAX_EXT 16

static const char default_type[] = "application/octet-stream";

size_t eddy_http_mime_count(void)
{
    return NTABLE;
}

static int cmp_ext(const void *key, const void *elem)
{
    return strcmp(key, ((const struct mime *)elem)->ext);
}

const char *eddy_http_mime_type(const char *path, size_t len)
{
    size_t i = len;
    while (i > 0 && path[i - 1] != '.' && path[i - 1] != '/')
        i--;
    /* No dot in the last segment, or a name that is only ".ext" (a dotfile). */
    if (i == 0 || path[i - 1] != '.' || i == 1 || path[i - 2] == '/')
        return default_type;
    size_t n = len - i;
    if (n == 0 || n >= MAX_EXT)
        return default_type;
    char ext[MAX_EXT];
    for (size_t k = 0; k < n; k++) {
        char ch = path[i + k];
        ext[k] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
    }
    ext[n] = '\0';
    const struct mime *m = bsearch(ext, table, NTABLE, sizeof table[0], cmp_ext);
    return m ? m->type : default_type;
}
