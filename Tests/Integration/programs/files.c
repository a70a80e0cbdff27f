/* Files and directories: create, write, read back, seek, stat, list, remove. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "/tmp";
    char path[4096];
    snprintf(path, sizeof path, "%s/emu-user-files-test", dir);
    mkdir(path, 0755);
    for (int i = 0; i < 5; i++) {
        char name[4200];
        snprintf(name, sizeof name, "%s/f%d", path, i);
        FILE *f = fopen(name, "w");
        if (!f) { perror("fopen"); return 1; }
        for (int k = 0; k <= i * 1000; k++) fprintf(f, "line %d of file %d\n", k, i);
        fclose(f);
    }
    char name[4200];
    snprintf(name, sizeof name, "%s/f3", path);
    int fd = open(name, O_RDONLY);
    struct stat st;
    fstat(fd, &st);
    char tail[32] = {0};
    lseek(fd, -20, SEEK_END);
    ssize_t n = read(fd, tail, 19);
    printf("size=%lld read=%zd tail=[%s]\n", (long long)st.st_size, n, tail);
    close(fd);
    DIR *d = opendir(path);
    int count = 0;
    long long total = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char full[8400];
        snprintf(full, sizeof full, "%s/%s", path, e->d_name);
        stat(full, &st);
        total += st.st_size;
        count++;
        unlink(full);
    }
    closedir(d);
    printf("entries=%d bytes=%lld rmdir=%d\n", count, total, rmdir(path));
    return 0;
}
