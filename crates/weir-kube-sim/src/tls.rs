//! HTTPS for the loopback listener.
//!
//! client-go (kubectl) sends kubeconfig credentials only to `https://` servers, so token-based RBAC
//! through kubectl needs TLS. Each listener gets a fresh throw-away CA and a server certificate for
//! `127.0.0.1`/`localhost` signed by it; the CA goes into the kubeconfig as
//! `certificate-authority-data`.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
    SanType,
};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// A server TLS configuration and the PEM of the CA that signed its certificate.
pub(crate) struct Material {
    pub ca_pem: String,
    pub config: Arc<rustls::ServerConfig>,
}

fn tls_error(err: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("could not set up TLS: {err}"))
}

/// Makes a CA and a server certificate for the loopback addresses.
pub(crate) fn material() -> io::Result<Material> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(tls_error)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "weir-kube-sim CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().map_err(tls_error)?)
        .map_err(tls_error)?;

    let key = KeyPair::generate().map_err(tls_error)?;
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).map_err(tls_error)?;
    params
        .subject_alt_names
        .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    params
        .distinguished_name
        .push(DnType::CommonName, "weir-kube-sim");
    let cert = params.signed_by(&key, &ca).map_err(tls_error)?;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(tls_error)?
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .map_err(tls_error)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Material {
        ca_pem: ca.pem(),
        config: Arc::new(config),
    })
}

/// A TCP listener that completes a TLS handshake before handing out a connection.
pub(crate) struct TlsListener {
    pub tcp: TcpListener,
    pub acceptor: TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (stream, addr) = match self.tcp.accept().await {
                Ok(pair) => pair,
                Err(err) => {
                    tracing::debug!(%err, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
            };
            match self.acceptor.accept(stream).await {
                Ok(tls) => return (tls, addr),
                Err(err) => tracing::debug!(%err, "TLS handshake failed"),
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// Terminates TLS on a fresh loopback port and forwards each connection's bytes to `upstream`
/// (plain TCP), so a test can reach any plain-HTTP server — a Weir server — over `https://` and
/// `wss://`. Returns the proxy's address and the PEM of the CA that signed its certificate.
pub async fn tls_proxy(upstream: SocketAddr) -> io::Result<(SocketAddr, String)> {
    let material = material()?;
    let mut config = Arc::unwrap_or_clone(material.config);
    config.alpn_protocols.clear(); // whatever HTTP/1.1 the client speaks passes through
    let tcp = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let addr = tcp.local_addr()?;
    let mut listener = TlsListener {
        tcp,
        acceptor: TlsAcceptor::from(Arc::new(config)),
    };
    tokio::spawn(async move {
        loop {
            let (mut tls, _) = axum::serve::Listener::accept(&mut listener).await;
            tokio::spawn(async move {
                if let Ok(mut plain) = TcpStream::connect(upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                }
            });
        }
    });
    Ok((addr, material.ca_pem))
}
