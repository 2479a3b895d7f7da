/*
 * measure RESULT_FILE PROGRAM [ARG...]
 *
 * Runs PROGRAM (stdin, stdout and stderr inherited), waits for it with
 * wait4, and writes to RESULT_FILE one line:
 *
 *   status=S wall_ns=W utime_us=U stime_us=T maxrss_kib=R minflt=F
 *
 * S is the exit code (128 + N if killed by signal N, 127 if it could not be
 * started); exits 0 once the line is written, whatever S.
 *
 * Why a launcher in C rather than os.wait4 in the Python scripts: Linux
 * counts into a process's peak RSS (ru_maxrss) the memory of the process
 * that called exec, since at exec it records the old address space's
 * high-water mark. A child exec'd from Python reports at least Python's own
 * RSS (13 MiB for /bin/true from python3), above the 3 MiB being measured.
 * This launcher's address space is well under 1 MiB, so the figure is the
 * program's own (F: the minor page faults of that process).
 * CPU times are the kernel's for that one process (its own
 * children included, and it has none), in microseconds; wall time is from
 * just before the spawn to the return of wait4.
 *
 * Built by benchlib.py with `cc -O2` into crates/bench/target/.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: measure RESULT_FILE PROGRAM [ARG...]\n");
        return 2;
    }
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    /* vfork: the child borrows this small address space until its exec. */
    pid_t pid = vfork();
    if (pid < 0) {
        perror("measure: vfork");
        return 1;
    }
    if (pid == 0) {
        execv(argv[2], argv + 2);
        _exit(127);
    }
    int status = 0;
    struct rusage usage;
    memset(&usage, 0, sizeof usage);
    while (wait4(pid, &status, 0, &usage) < 0) {
        if (errno != EINTR) {
            perror("measure: wait4");
            return 1;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &end);
    long long wall_ns = (long long)(end.tv_sec - start.tv_sec) * 1000000000LL +
                        (end.tv_nsec - start.tv_nsec);
    long long utime_us = (long long)usage.ru_utime.tv_sec * 1000000LL + usage.ru_utime.tv_usec;
    long long stime_us = (long long)usage.ru_stime.tv_sec * 1000000LL + usage.ru_stime.tv_usec;
    int code = WIFEXITED(status) ? WEXITSTATUS(status)
             : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 255;

    FILE *out = fopen(argv[1], "w");
    if (out == NULL) {
        perror("measure: cannot write the result file");
        return 1;
    }
    fprintf(out, "status=%d wall_ns=%lld utime_us=%lld stime_us=%lld maxrss_kib=%ld minflt=%ld\n",
            code, wall_ns, utime_us, stime_us, usage.ru_maxrss, usage.ru_minflt);
    return fclose(out) == 0 ? 0 : 1;
}
