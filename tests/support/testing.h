#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace tern::testing {

// Where the sources and the built binaries are (set by CMake).
std::string SourceDir();
std::string BinaryDir();

// A free TCP port on 127.0.0.1 (bound and released; good enough for tests).
int FreePort();

// A temporary directory, world-traversable so that PostgreSQL (run as "postgres" when the
// tests run as root) can use it; removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A child process with its stdout and stderr in a log file; on destruction, if still
// running, sent SIGTERM and, if it has not exited within 30 s, SIGKILL.
class Process {
 public:
  Process(std::string binary, std::vector<std::string> args, std::map<std::string, std::string> env,
          std::string log_path);
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  void Signal(int sig);
  // The exit code (or 128+signal) within timeout, or nullopt if still running.
  std::optional<int> Wait(std::chrono::milliseconds timeout);
  bool Running();
  std::string Log() const;

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
  std::string log_path_;
};

// Runs a shell command; returns its exit code.
int Shell(const std::string& command);

// A private PostgreSQL on a free port (deploy/local/pgctl.sh); fsync off unless durable
// (benchmarks measure with it on).
class PgServer {
 public:
  explicit PgServer(bool durable = false);
  ~PgServer();
  void Start();
  void Stop();  // fast shutdown
  int port() const { return port_; }
  std::string dsn() const;

 private:
  TempDir dir_;
  int port_;
  bool durable_;
  bool running_ = false;
};

// A private redis-server on a free port, nothing persisted.
class RedisServer {
 public:
  RedisServer();
  void Start();
  void Stop();
  int port() const { return port_; }
  std::string addr() const;

 private:
  TempDir dir_;
  int port_;
  std::optional<Process> process_;
};

struct HttpResult {
  int status = 0;  // 0: no answer
  std::string body;
};
// GET http://127.0.0.1:port/path with a 2 s timeout.
HttpResult HttpGet(int port, const std::string& path);

// Polls until pred() holds or timeout passes; returns the last value of pred().
bool WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout);

// Writes a file (creating it).
void WriteFile(const std::string& path, const std::string& content);

}  // namespace tern::testing
