// Test PKI generated with the `openssl` CLI (EC P-256, fast).
// Header-only, POSIX only. Locating openssl: $AMQTT_OPENSSL, /usr/bin/openssl, $PATH.
//
//   auto certs = amqtt::test::generate_test_certs("/some/dir");   // fresh set
//   const auto& shared = amqtt::test::shared_test_certs();         // one set per process
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "subprocess.hpp"

namespace amqtt::test {

struct test_certs {
  std::string dir;

  // The test CA that signs everything below except the "untrusted" client.
  std::string ca_cert;
  std::string ca_key;

  // Server certificate: CN=localhost, SAN DNS:localhost, IP:127.0.0.1.
  std::string server_cert;
  std::string server_key;

  // Server certificate signed by the real CA but for the WRONG host name
  // (CN=wrong.example, SAN DNS:wrong.example only).
  std::string wrong_host_cert;
  std::string wrong_host_key;

  // A second, unrelated CA (for "wrong CA" tests: trust this instead of ca_cert).
  std::string wrong_ca_cert;
  std::string wrong_ca_key;

  // Client certificate for mutual TLS (CN=amqtt-test-client, clientAuth), signed by ca.
  std::string client_cert;
  std::string client_key;

  // Client certificate signed by the wrong CA (mutual TLS must reject it).
  std::string untrusted_client_cert;
  std::string untrusted_client_key;
};

namespace fixture_detail {

inline std::string openssl_binary() {
  return find_executable("AMQTT_OPENSSL", {"/usr/bin/openssl", "/usr/local/bin/openssl"},
                         "openssl");
}

// Own config so the result does not depend on the system openssl.cnf.
inline const char* test_openssl_cnf() {
  return R"([req]
distinguished_name = dn
prompt = no

[dn]
CN = amqtt-placeholder

[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash

[v3_server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyAgreement
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid,issuer

[v3_wrong_host]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyAgreement
extendedKeyUsage = serverAuth
subjectAltName = DNS:wrong.example
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid,issuer

[v3_client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyAgreement
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid,issuer
)";
}

struct openssl_job {
  std::string name;  // for the log file and error messages
  std::vector<std::string> args;
};

/// Runs openssl jobs concurrently (they are independent); throws with the
/// output of the first failing one. Bounded by `timeout` overall.
inline void run_openssl_jobs(const std::string& openssl, const std::vector<openssl_job>& jobs,
                             const std::string& dir,
                             std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  struct running {
    const openssl_job* job;
    pid_t pid;
    std::string log;
  };
  std::vector<running> procs;
  auto reap_all = [&] {
    for (auto& p : procs) {
      if (p.pid > 0) {
        kill_and_reap(p.pid);
        p.pid = 0;
      }
    }
  };
  try {
    for (const auto& j : jobs) {
      std::vector<std::string> argv = j.args;
      argv.insert(argv.begin(), openssl);
      spawn_options o;
      o.output_file = dir + "/openssl-" + j.name + ".log";
      procs.push_back({&j, spawn_process(argv, o), o.output_file});
    }
  } catch (...) {
    reap_all();
    throw;
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string error;
  for (auto& p : procs) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    int status = 0;
    if (!wait_for_exit(p.pid, left.count() > 0 ? left : std::chrono::milliseconds(0), &status)) {
      error = "openssl (" + p.job->name + ") timed out";
      break;  // reap_all() kills the rest
    }
    p.pid = 0;
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0) && error.empty()) {
      std::string cmd;
      for (const auto& a : p.job->args) {
        cmd += a + " ";
      }
      error = "openssl " + cmd + "failed:\n" + tail_lines(read_file(p.log), 20);
    }
  }
  reap_all();
  if (!error.empty()) {
    throw std::runtime_error("generate_test_certs: " + error);
  }
}

}  // namespace fixture_detail

/// Generates a complete test PKI into the existing directory `dir`.
/// Six openssl invocations in two parallel rounds; typically < 100 ms.
inline test_certs generate_test_certs(const std::string& dir) {
  const std::string openssl = fixture_detail::openssl_binary();
  const std::string cnf = dir + "/openssl-test.cnf";
  fixture_detail::write_file(cnf, fixture_detail::test_openssl_cnf());

  test_certs c;
  c.dir = dir;
  auto p = [&](const char* name) {
    return dir + "/" + name;
  };
  c.ca_cert = p("ca.crt");
  c.ca_key = p("ca.key");
  c.server_cert = p("server.crt");
  c.server_key = p("server.key");
  c.wrong_host_cert = p("wrong_host.crt");
  c.wrong_host_key = p("wrong_host.key");
  c.wrong_ca_cert = p("wrong_ca.crt");
  c.wrong_ca_key = p("wrong_ca.key");
  c.client_cert = p("client.crt");
  c.client_key = p("client.key");
  c.untrusted_client_cert = p("untrusted_client.crt");
  c.untrusted_client_key = p("untrusted_client.key");

  const std::vector<std::string> new_ec_key = {"-newkey", "ec", "-pkeyopt",
                                               "ec_paramgen_curve:prime256v1", "-nodes"};
  auto concat = [](std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  };

  // Round 1: the two self-signed CAs.
  auto ca_job = [&](const char* name, const std::string& cert, const std::string& key,
                    const std::string& cn) {
    return fixture_detail::openssl_job{
        name, concat(concat({"req", "-config", cnf, "-x509"}, new_ec_key),
                     {"-keyout", key, "-out", cert, "-subj", "/CN=" + cn, "-days", "3650",
                      "-sha256", "-extensions", "v3_ca"})};
  };
  fixture_detail::run_openssl_jobs(
      openssl,
      {ca_job("ca", c.ca_cert, c.ca_key, "amqtt test CA"),
       ca_job("wrong_ca", c.wrong_ca_cert, c.wrong_ca_key, "amqtt unrelated test CA")},
      dir);

  // Round 2: the leaves. OpenSSL >= 3.0 creates key + signed certificate in
  // one `req -x509 -CA` call; older versions need req + x509 -req.
  struct leaf {
    const char* name;
    const std::string* cert;
    const std::string* key;
    std::string cn;
    const char* ext;
    const std::string* ca_cert;
    const std::string* ca_key;
    const char* serial;
  };
  const std::vector<leaf> leaves = {
      {"server", &c.server_cert, &c.server_key, "localhost", "v3_server", &c.ca_cert, &c.ca_key,
       "4097"},
      {"wrong_host", &c.wrong_host_cert, &c.wrong_host_key, "wrong.example", "v3_wrong_host",
       &c.ca_cert, &c.ca_key, "4098"},
      {"client", &c.client_cert, &c.client_key, "amqtt-test-client", "v3_client", &c.ca_cert,
       &c.ca_key, "4099"},
      {"untrusted_client", &c.untrusted_client_cert, &c.untrusted_client_key,
       "amqtt-untrusted-client", "v3_client", &c.wrong_ca_cert, &c.wrong_ca_key, "4100"},
  };
  std::vector<fixture_detail::openssl_job> one_step;
  for (const auto& l : leaves) {
    one_step.push_back({l.name, concat(concat({"req", "-config", cnf, "-x509", "-CA", *l.ca_cert,
                                               "-CAkey", *l.ca_key, "-set_serial", l.serial},
                                              new_ec_key),
                                       {"-keyout", *l.key, "-out", *l.cert, "-subj", "/CN=" + l.cn,
                                        "-days", "3650", "-sha256", "-extensions", l.ext})});
  }
  try {
    fixture_detail::run_openssl_jobs(openssl, one_step, dir);
  } catch (const std::runtime_error&) {
    // OpenSSL 1.1.x: no `req -CA`. Fall back to CSR + x509 -req.
    std::vector<fixture_detail::openssl_job> csrs, signs;
    for (const auto& l : leaves) {
      const std::string csr = *l.cert + ".csr";
      csrs.push_back({std::string(l.name) + "-csr",
                      concat(concat({"req", "-config", cnf, "-new"}, new_ec_key),
                             {"-keyout", *l.key, "-out", csr, "-subj", "/CN=" + l.cn})});
      signs.push_back({std::string(l.name) + "-sign",
                       {"x509", "-req", "-in", csr, "-CA", *l.ca_cert, "-CAkey", *l.ca_key,
                        "-set_serial", l.serial, "-days", "3650", "-sha256", "-extfile", cnf,
                        "-extensions", l.ext, "-out", *l.cert}});
    }
    fixture_detail::run_openssl_jobs(openssl, csrs, dir);
    fixture_detail::run_openssl_jobs(openssl, signs, dir);
    for (const auto& l : leaves) {
      ::unlink((*l.cert + ".csr").c_str());
    }
  }
  return c;
}

/// One certificate set per process, generated on first use into a private
/// temp dir that is removed at exit. Thread-safe initialisation.
inline const test_certs& shared_test_certs() {
  struct holder {
    temp_dir dir{"amqtt-certs"};
    test_certs certs = generate_test_certs(dir.path());
  };
  static holder h;
  return h.certs;
}

}  // namespace amqtt::test
