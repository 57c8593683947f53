/*
 * nodeagent pause: the process that holds a pod sandbox's namespaces open.
 *
 * Behaves like the Kubernetes pause container: it blocks in pause() forever,
 * exits 0 on SIGINT or SIGTERM, and, being PID 1 of the pod's PID namespace
 * when that namespace is shared, reaps every zombie it inherits (SIGCHLD).
 *
 * Built by scripts/runtime/up.sh with `gcc -static -O2`; entrypoint /pause.
 * `/pause -v` prints a version line and exits 0.
 */
#include <signal.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define VERSION "nodeagent-pause 1\n"

static void say(const char *s) {
  ssize_t r = write(STDERR_FILENO, s, strlen(s));
  (void)r;
}

static void sigdown(int signo) {
  say(signo == SIGTERM ? "pause: got SIGTERM, exiting\n" : "pause: got SIGINT, exiting\n");
  _exit(0);
}

static void sigreap(int signo) {
  (void)signo;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
}

int main(int argc, char **argv) {
  struct sigaction sa;
  if (argc > 1 && strcmp(argv[1], "-v") == 0) {
    ssize_t r = write(STDOUT_FILENO, VERSION, strlen(VERSION));
    (void)r;
    return 0;
  }
  if (getpid() != 1) say("pause: warning: not running as PID 1\n");

  memset(&sa, 0, sizeof sa);
  sigemptyset(&sa.sa_mask);
  sa.sa_handler = sigdown;
  if (sigaction(SIGINT, &sa, NULL) < 0 || sigaction(SIGTERM, &sa, NULL) < 0) return 1;

  sa.sa_handler = sigreap;
  sa.sa_flags = SA_NOCLDSTOP | SA_RESTART;
  if (sigaction(SIGCHLD, &sa, NULL) < 0) return 2;

  for (;;) pause();
  return 42; /* not reached */
}
