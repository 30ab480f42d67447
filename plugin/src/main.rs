//! regcred-kubelet-plugin: the kubelet image credential provider of regcred-operator.
//!
//! `regcred-kubelet-plugin [--config FILE]` is what the kubelet execs for a pull: it reads the
//! kubelet's CredentialProviderRequest on stdin, sends it unchanged over TLS to the operator's
//! kubelet endpoint (POST /v1/credentials), and writes the operator's CredentialProviderResponse to
//! stdout. It holds no credential and writes nothing to disk: the answer goes from the socket to
//! the kubelet. Any failure exits 1 with one line on stderr, which the kubelet logs; the kubelet then
//! pulls with its other sources.
//!
//! `regcred-kubelet-plugin install ...` is what the installer DaemonSet runs: it copies this binary
//! into the kubelet's provider bin dir and writes the plugin's config, the endpoint's CA and the
//! kubelet's CredentialProviderConfig onto the node (see `install --help`).

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use std::{env, fs, process, thread};

const DEFAULT_CONFIG: &str = "/etc/kubernetes/regcred/plugin.json";
const ENDPOINT_PATH: &str = "/v1/credentials";
/** The kubelet's requests hold an image and a token; anything larger is not one. */
const MAX_REQUEST_BYTES: u64 = 64 * 1024;
const MAX_RESPONSE_BYTES: u64 = 1024 * 1024;
const PROVIDER_API_VERSION: &str = "credentialprovider.kubelet.k8s.io/v1";
const PLUGIN_NAME: &str = "regcred-kubelet-plugin";

fn main() {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("install") => install(&args[1..]),
        Some("--version") => {
            println!("{PLUGIN_NAME} {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Some("--help") | Some("-h") => {
            println!("{}", usage());
            Ok(())
        }
        _ => provide(&args),
    };
    if let Err(message) = result {
        eprintln!("regcred: {message}");
        process::exit(1);
    }
}

fn usage() -> String {
    format!(
        "usage: {PLUGIN_NAME} [--config FILE]   (the kubelet's exec credential provider; default {DEFAULT_CONFIG})\n\
         \x20      {PLUGIN_NAME} install --help  (write it and its configuration onto a node)"
    )
}

// ---- the provider ----------------------------------------------------------------------------

struct PluginConfig {
    endpoints: Vec<String>,
    ca_file: PathBuf,
    server_name: Option<String>,
    timeout: Duration,
}

fn provide(args: &[String]) -> Result<(), String> {
    let mut config_path = DEFAULT_CONFIG.to_string();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--config" => config_path = rest.next().ok_or("--config needs a file")?.clone(),
            other if other.starts_with("--config=") => config_path = other["--config=".len()..].to_string(),
            other => return Err(format!("unknown argument {other}\n{}", usage())),
        }
    }
    let config = read_config(Path::new(&config_path))?;
    let mut request = Vec::new();
    std::io::stdin()
        .take(MAX_REQUEST_BYTES + 1)
        .read_to_end(&mut request)
        .map_err(|err| format!("reading the kubelet's request: {err}"))?;
    if request.len() as u64 > MAX_REQUEST_BYTES {
        return Err(format!("the kubelet's request is larger than {MAX_REQUEST_BYTES} bytes"));
    }
    let tls = tls_config(&config.ca_file)?;
    let mut failures = Vec::new();
    // Endpoints in order: the first that answers decides; one that cannot be reached is skipped.
    for endpoint in &config.endpoints {
        match post(endpoint, &config, &tls, &request) {
            Ok((200, body)) => {
                check_response(&body)?;
                std::io::stdout().write_all(&body).map_err(|err| format!("writing the response: {err}"))?;
                return Ok(());
            }
            Ok((status, body)) => return Err(refusal(endpoint, status, &body)),
            Err(err) => failures.push(format!("{endpoint}: {err}")),
        }
    }
    Err(format!("no operator endpoint answered ({}); is regcred-operator running?", failures.join("; ")))
}

fn read_config(path: &Path) -> Result<PluginConfig, String> {
    let text = fs::read_to_string(path).map_err(|err| format!("reading {}: {err}", path.display()))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|err| format!("{} is not JSON: {err}", path.display()))?;
    let endpoints: Vec<String> = match &json["endpoints"] {
        serde_json::Value::Array(items) => items.iter().filter_map(|v| v.as_str().map(String::from)).collect(),
        _ => Vec::new(),
    };
    if endpoints.is_empty() || endpoints.iter().any(|e| !e.starts_with("https://")) {
        return Err(format!("{}: endpoints must list https:// URLs", path.display()));
    }
    let ca_file = json["caFile"].as_str().ok_or_else(|| format!("{}: caFile is required", path.display()))?;
    let relative = Path::new(ca_file);
    let ca_file = if relative.is_absolute() { relative.to_path_buf() } else { path.with_file_name(relative) };
    Ok(PluginConfig {
        endpoints,
        ca_file,
        server_name: json["serverName"].as_str().map(String::from),
        timeout: Duration::from_secs(json["timeoutSeconds"].as_u64().unwrap_or(10).clamp(1, 55)),
    })
}

fn tls_config(ca_file: &Path) -> Result<Arc<rustls::ClientConfig>, String> {
    let pem = fs::read(ca_file).map_err(|err| format!("reading the endpoint's CA {}: {err}", ca_file.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        let cert = cert.map_err(|err| format!("{}: {err}", ca_file.display()))?;
        roots.add(cert).map_err(|err| format!("{}: {err}", ca_file.display()))?;
    }
    if roots.is_empty() {
        return Err(format!("{} holds no PEM certificate", ca_file.display()));
    }
    // ring: pure Rust and C, no cmake or Go needed to build it (aws-lc-rs needs both).
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| err.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// host, port and the name the certificate must carry, from https://host[:port][/...]
fn split_url(url: &str) -> Result<(String, u16), String> {
    let rest = url.strip_prefix("https://").ok_or("not an https:// URL")?;
    let authority = rest.split('/').next().unwrap_or_default();
    let (host, port) = if let Some(inner) = authority.strip_prefix('[') {
        let (host, after) = inner.split_once(']').ok_or("bad IPv6 address")?;
        (host.to_string(), after.strip_prefix(':').unwrap_or("443"))
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host.to_string(), port),
            None => (authority.to_string(), "443"),
        }
    };
    let port = port.parse::<u16>().map_err(|_| format!("bad port in {url}"))?;
    if host.is_empty() {
        return Err(format!("no host in {url}"));
    }
    Ok((host, port))
}

fn post(
    endpoint: &str,
    config: &PluginConfig,
    tls: &Arc<rustls::ClientConfig>,
    body: &[u8],
) -> Result<(u16, Vec<u8>), String> {
    let (host, port) = split_url(endpoint)?;
    let name = config.server_name.clone().unwrap_or_else(|| host.clone());
    let server_name = rustls::pki_types::ServerName::try_from(name.clone()).map_err(|err| err.to_string())?;
    let address = (host.as_str(), port)
        .to_socket_addrs()
        .map_err(|err| format!("resolving {host}: {err}"))?
        .next()
        .ok_or_else(|| format!("{host} has no address"))?;
    let socket = TcpStream::connect_timeout(&address, config.timeout).map_err(|err| err.to_string())?;
    socket.set_read_timeout(Some(config.timeout)).map_err(|err| err.to_string())?;
    socket.set_write_timeout(Some(config.timeout)).map_err(|err| err.to_string())?;
    let connection = rustls::ClientConnection::new(tls.clone(), server_name).map_err(|err| err.to_string())?;
    let mut stream = rustls::StreamOwned::new(connection, socket);
    let head = format!(
        "POST {ENDPOINT_PATH} HTTP/1.1\r\nHost: {name}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nUser-Agent: {PLUGIN_NAME}/{}\r\nConnection: close\r\n\r\n",
        body.len(),
        env!("CARGO_PKG_VERSION")
    );
    stream.write_all(head.as_bytes()).map_err(|err| err.to_string())?;
    stream.write_all(body).map_err(|err| err.to_string())?;
    stream.flush().map_err(|err| err.to_string())?;
    let mut response = Vec::new();
    // The server closes after its answer (Connection: close); a peer that closes without TLS
    // close_notify after a complete answer is accepted since Content-Length is checked below.
    if let Err(err) = (&mut stream).take(MAX_RESPONSE_BYTES).read_to_end(&mut response) {
        if err.kind() != std::io::ErrorKind::UnexpectedEof || response.is_empty() {
            return Err(err.to_string());
        }
    }
    parse_http(&response)
}

/// (status, body) of an HTTP/1.1 answer with Content-Length.
fn parse_http(response: &[u8]) -> Result<(u16, Vec<u8>), String> {
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").ok_or("incomplete HTTP answer")?;
    let head = std::str::from_utf8(&response[..split]).map_err(|_| "HTTP head is not text")?;
    let body = &response[split + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| format!("not an HTTP answer: {}", status_line.chars().take(80).collect::<String>()))?;
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                let length: usize = value.trim().parse().map_err(|_| "bad Content-Length")?;
                if body.len() < length {
                    return Err("the answer was cut short".into());
                }
                return Ok((status, body[..length].to_vec()));
            }
        }
    }
    Ok((status, body.to_vec()))
}

fn check_response(body: &[u8]) -> Result<(), String> {
    let json: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| "the operator's answer is not JSON".to_string())?;
    if json["apiVersion"] != PROVIDER_API_VERSION || json["kind"] != "CredentialProviderResponse" {
        return Err("the operator's answer is not a CredentialProviderResponse".into());
    }
    Ok(())
}

fn refusal(endpoint: &str, status: u16, body: &[u8]) -> String {
    let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let reason = json["reason"].as_str().unwrap_or("Unknown");
    let message: String = json["message"].as_str().unwrap_or_default().chars().take(400).collect();
    format!("{endpoint} refused the request ({status} {reason}): {message}")
}

// ---- the installer ---------------------------------------------------------------------------

struct InstallOptions {
    config_dir: PathBuf,
    bin_dir: PathBuf,
    endpoints: Vec<String>,
    server_name: Option<String>,
    ca_source: PathBuf,
    audience: String,
    match_images: Vec<String>,
    default_cache: String,
    watch: Option<Duration>,
}

fn install_usage() -> &'static str {
    "usage: regcred-kubelet-plugin install --config-dir DIR --bin-dir DIR --endpoint URL [--endpoint URL ...]\n\
     \x20      --ca-file FILE [--server-name NAME] [--audience AUD] [--match-image PATTERN ...]\n\
     \x20      [--default-cache-duration 5m] [--watch SECONDS]\n\
     Copies this binary to BIN-DIR, copies the endpoint's CA to CONFIG-DIR/ca.crt, and writes\n\
     CONFIG-DIR/plugin.json and CONFIG-DIR/credential-provider-config.yaml (the kubelet's\n\
     --image-credential-provider-config). Files are replaced atomically and only when they change.\n\
     --watch: do it again every SECONDS (a renewed CA reaches the node), never exit."
}

fn install(args: &[String]) -> Result<(), String> {
    let mut options = InstallOptions {
        config_dir: PathBuf::new(),
        bin_dir: PathBuf::new(),
        endpoints: Vec::new(),
        server_name: None,
        ca_source: PathBuf::new(),
        audience: "kubelet.regcred.io".into(),
        match_images: Vec::new(),
        default_cache: "5m".into(),
        watch: None,
    };
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag, Some(value.to_string())),
            None => (arg.as_str(), None),
        };
        if flag == "--help" || flag == "-h" {
            println!("{}", install_usage());
            return Ok(());
        }
        let value = match inline {
            Some(value) => value,
            None => rest.next().ok_or_else(|| format!("{flag} needs a value"))?.clone(),
        };
        match flag {
            "--config-dir" => options.config_dir = value.into(),
            "--bin-dir" => options.bin_dir = value.into(),
            "--endpoint" => options.endpoints.push(value),
            "--server-name" => options.server_name = Some(value),
            "--ca-file" => options.ca_source = value.into(),
            "--audience" => options.audience = value,
            "--match-image" => options.match_images.push(value),
            "--default-cache-duration" => options.default_cache = value,
            "--watch" => {
                let seconds: u64 = value.parse().map_err(|_| "--watch takes seconds")?;
                options.watch = Some(Duration::from_secs(seconds.max(1)));
            }
            other => return Err(format!("unknown flag {other}\n{}", install_usage())),
        }
    }
    if options.config_dir.as_os_str().is_empty() || options.bin_dir.as_os_str().is_empty() {
        return Err(format!("--config-dir and --bin-dir are required\n{}", install_usage()));
    }
    if options.endpoints.is_empty() || options.endpoints.iter().any(|e| !e.starts_with("https://")) {
        return Err("--endpoint takes an https:// URL (at least one)".into());
    }
    if options.ca_source.as_os_str().is_empty() {
        return Err("--ca-file is required".into());
    }
    if options.match_images.is_empty() {
        // Every image: the operator answers "nothing" for registries no RegistryCredential serves.
        options.match_images = ["*", "*.*", "*.*.*", "*.*.*.*", "*.*.*.*.*", "*.*.*.*.*.*"].map(String::from).to_vec();
    }
    loop {
        match install_once(&options) {
            Ok(changed) if !changed.is_empty() => eprintln!("regcred: installed {}", changed.join(", ")),
            Ok(_) => {}
            Err(err) if options.watch.is_some() => eprintln!("regcred: install failed, retrying: {err}"),
            Err(err) => return Err(err),
        }
        match options.watch {
            Some(every) => thread::sleep(every),
            None => return Ok(()),
        }
    }
}

/// Writes what differs; returns the files it wrote.
fn install_once(options: &InstallOptions) -> Result<Vec<String>, String> {
    fs::create_dir_all(&options.config_dir).map_err(|err| format!("{}: {err}", options.config_dir.display()))?;
    fs::create_dir_all(&options.bin_dir).map_err(|err| format!("{}: {err}", options.bin_dir.display()))?;
    let mut changed = Vec::new();
    let me = fs::read(env::current_exe().map_err(|err| err.to_string())?).map_err(|err| err.to_string())?;
    write_if_changed(&options.bin_dir.join(PLUGIN_NAME), &me, 0o755, &mut changed)?;
    let ca = fs::read(&options.ca_source).map_err(|err| format!("{}: {err}", options.ca_source.display()))?;
    write_if_changed(&options.config_dir.join("ca.crt"), &ca, 0o644, &mut changed)?;
    let mut plugin = serde_json::json!({ "endpoints": options.endpoints, "caFile": "ca.crt" });
    if let Some(name) = &options.server_name {
        plugin["serverName"] = serde_json::Value::String(name.clone());
    }
    let plugin_json = serde_json::to_string_pretty(&plugin).map_err(|err| err.to_string())? + "\n";
    write_if_changed(&options.config_dir.join("plugin.json"), plugin_json.as_bytes(), 0o644, &mut changed)?;
    let provider_config = credential_provider_config(options);
    write_if_changed(
        &options.config_dir.join("credential-provider-config.yaml"),
        provider_config.as_bytes(),
        0o644,
        &mut changed,
    )?;
    Ok(changed)
}

/// The kubelet's CredentialProviderConfig: the ServiceAccount token of the Pod, cached per ServiceAccount.
fn credential_provider_config(options: &InstallOptions) -> String {
    let quote = |text: &str| serde_json::Value::String(text.to_string()).to_string();
    let images: Vec<String> = options.match_images.iter().map(|image| format!("      - {}", quote(image))).collect();
    let plugin_config = options.config_dir.join("plugin.json");
    format!(
        "# Written by regcred-kubelet-plugin install: the kubelet's --image-credential-provider-config.\n\
         apiVersion: kubelet.config.k8s.io/v1\n\
         kind: CredentialProviderConfig\n\
         providers:\n\
         \x20 - name: {PLUGIN_NAME}\n\
         \x20   apiVersion: {PROVIDER_API_VERSION}\n\
         \x20   matchImages:\n{}\n\
         \x20   defaultCacheDuration: {}\n\
         \x20   args: [\"--config\", {}]\n\
         \x20   tokenAttributes:\n\
         \x20     serviceAccountTokenAudience: {}\n\
         \x20     cacheType: ServiceAccount\n\
         \x20     requireServiceAccount: true\n",
        images.join("\n"),
        quote(&options.default_cache),
        quote(&plugin_config.to_string_lossy()),
        quote(&options.audience),
    )
}

fn write_if_changed(path: &Path, content: &[u8], mode: u32, changed: &mut Vec<String>) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    if fs::read(path).map(|old| old == content).unwrap_or(false) {
        return Ok(());
    }
    let temporary = path.with_extension("regcred-tmp");
    fs::write(&temporary, content).map_err(|err| format!("{}: {err}", temporary.display()))?;
    fs::set_permissions(&temporary, fs::Permissions::from_mode(mode)).map_err(|err| err.to_string())?;
    fs::rename(&temporary, path).map_err(|err| format!("{}: {err}", path.display()))?;
    changed.push(path.display().to_string());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_urls() {
        assert_eq!(split_url("https://10.0.0.5:8443").unwrap(), ("10.0.0.5".into(), 8443));
        assert_eq!(split_url("https://op.svc/x").unwrap(), ("op.svc".into(), 443));
        assert_eq!(split_url("https://[::1]:9443").unwrap(), ("::1".into(), 9443));
        assert!(split_url("http://x").is_err());
        assert!(split_url("https://:80").is_err());
    }

    #[test]
    fn parses_http_answers() {
        let answer = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\n{}trailing";
        assert_eq!(parse_http(answer).unwrap(), (403, b"{}".to_vec()));
        assert!(parse_http(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}").is_err());
        assert!(parse_http(b"garbage").is_err());
    }

    #[test]
    fn refusals_name_the_reason() {
        let text = refusal("https://e", 403, br#"{"reason":"WrongAudience","message":"not for us"}"#);
        assert_eq!(text, "https://e refused the request (403 WrongAudience): not for us");
    }

    #[test]
    fn provider_config_asks_for_the_service_account_token() {
        let options = InstallOptions {
            config_dir: "/etc/kubernetes/regcred".into(),
            bin_dir: "/bin".into(),
            endpoints: vec!["https://e".into()],
            server_name: None,
            ca_source: "/ca".into(),
            audience: "kubelet.regcred.io".into(),
            match_images: vec!["*.example.com".into()],
            default_cache: "5m".into(),
            watch: None,
        };
        let text = credential_provider_config(&options);
        assert!(text.contains("serviceAccountTokenAudience: \"kubelet.regcred.io\""));
        assert!(text.contains("cacheType: ServiceAccount"));
        assert!(text.contains("requireServiceAccount: true"));
        assert!(text.contains("args: [\"--config\", \"/etc/kubernetes/regcred/plugin.json\"]"));
        assert!(text.contains("      - \"*.example.com\""));
    }
}
