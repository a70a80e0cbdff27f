/* glibc's string functions (their SSE2 variants), qsort, snprintf, strtol. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int compare(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(void) {
    static char buf[70000];
    for (int i = 0; i < (int)sizeof buf - 1; i++) buf[i] = 'a' + (i * 7) % 26;
    buf[sizeof buf - 1] = 0;
    printf("strlen=%zu\n", strlen(buf));
    for (int off = 0; off < 40; off++) printf("%zu ", strlen(buf + sizeof buf - 1 - off));
    printf("\n");
    char *p = strchr(buf + 3, 'z');
    printf("strchr=%td strrchr=%td\n", p - buf, strrchr(buf, 'q') - buf);
    char copy[200];
    memset(copy, 'x', sizeof copy);
    memcpy(copy + 3, buf + 5, 100);
    memmove(copy + 10, copy + 3, 50);
    copy[150] = 0;
    printf("%s\n", copy);
    printf("memcmp=%d strcmp=%d strncmp=%d\n", memcmp(copy, buf, 20) > 0, strcmp("abc", "abd"), strncmp("abcx", "abcy", 3));
    const char *words[] = {"pear", "apple", "fig", "banana", "cherry", "date", "elderberry", "grape"};
    char *sorted[8];
    for (int i = 0; i < 8; i++) sorted[i] = strdup(words[i]);
    qsort(sorted, 8, sizeof sorted[0], compare);
    for (int i = 0; i < 8; i++) printf("%s%s", sorted[i], i < 7 ? "," : "\n");
    char out[64];
    int n = snprintf(out, sizeof out, "%08x|%s|%ld", 0xbeef, "str", strtol("-12345", NULL, 10));
    printf("%d %s %s\n", n, out, strstr("haystack with needle inside", "needle"));
    return 0;
}
