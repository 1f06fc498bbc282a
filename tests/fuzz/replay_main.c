/*
 * Runs a libFuzzer target over files, without libFuzzer: `make test` builds every
 * tests/fuzz/fuzz_NAME.c with this main() as build/tests/test_fuzz_NAME. With no
 * arguments it replays $EDDY_ROOT/tests/fuzz/corpus/NAME and .../regression/NAME
 * (NAME from argv[0]), after the empty input; otherwise the files and directories given.
 * A crash or abort in the target fails the test (the "# replaying FILE" line before it
 * names the input); each directory prints "ok - DIR: N inputs".
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t label_skip; /* prefix of the directory names not printed */

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        printf("not ok - %s: cannot open\n", path);
        return 0;
    }
    struct stat st;
    size_t n = fstat(fileno(f), &st) == 0 ? (size_t)st.st_size : 0;
    uint8_t *buf = malloc(n ? n : 1);
    size_t got = fread(buf, 1, n, f);
    fclose(f);
    /* Named before it runs, so a crash report says which input it was. */
    printf("# replaying %s\n", path);
    fflush(stdout);
    LLVMFuzzerTestOneInput(buf, got);
    free(buf);
    return 1;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int replay_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            names = realloc(names, cap * sizeof(*names));
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof(*names), by_name);
    int count = 0;
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        count += replay_file(path);
        free(names[i]);
    }
    free(names);
    if (count)
        printf("ok - %s: %d inputs\n", strlen(dir) > label_skip ? dir + label_skip : dir, count);
    return count;
}

int main(int argc, char **argv)
{
    int count = 0;
    if (argc > 1) {
        for (int i = 1; i < argc; i++) {
            struct stat st;
            if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
                count += replay_dir(argv[i]);
            else if (replay_file(argv[i]) && ++count)
                printf("ok - %s\n", argv[i]);
        }
    } else {
        const char *root = getenv("EDDY_ROOT") ? getenv("EDDY_ROOT") : ".";
        const char *base = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
        const char *name = strncmp(base, "test_fuzz_", 10) == 0 ? base + 10 : base;
        char dir[4096];
        /* The empty input first: a valid case for every target, and it keeps a target
         * without seeds yet from reporting nothing. */
        LLVMFuzzerTestOneInput((const uint8_t *)"", 0);
        printf("ok - %s: empty input\n", name);
        count++;
        label_skip = strlen(root) + 1;
        snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus/%s", root, name);
        count += replay_dir(dir);
        snprintf(dir, sizeof(dir), "%s/tests/fuzz/regression/%s", root, name);
        count += replay_dir(dir);
    }
    printf("# replayed %d inputs\n", count);
    return count > 0 ? 0 : 1;
}
