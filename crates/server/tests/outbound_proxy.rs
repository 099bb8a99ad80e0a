//! The client for tenants' addresses ignores the proxy settings of the environment: through a
//! proxy, the address guard would check only the proxy's address and the proxy would reach
//! whatever the tenant named. A test binary of its own, because it sets the process's
//! environment, which every other test's HTTP client would read.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use openbsp_domain::netguard::NetworkPolicy;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Accepts connections on `listener`, counting them in `seen` and answering each request
/// `status`.
fn serve(listener: TcpListener, seen: Arc<AtomicUsize>, status: &'static str) {
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let _ = conn.read(&mut buf).await;
                let answer =
                    format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                let _ = conn.write_all(answer.as_bytes()).await;
            });
        }
    });
}

#[tokio::test]
async fn deliveries_do_not_go_through_a_proxy_from_the_environment() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let proxy = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
    let through_proxy = Arc::new(AtomicUsize::new(0));
    serve(proxy, through_proxy.clone(), "502 Bad Gateway");
    let target = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target_url = format!("http://{}/hooks", target.local_addr().unwrap());
    let at_target = Arc::new(AtomicUsize::new(0));
    serve(target, at_target.clone(), "200 OK");

    // SAFETY: this test binary holds this one test, on a single-threaded runtime: no other
    // thread is running that could read the environment while it changes.
    unsafe {
        for var in [
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "ALL_PROXY",
            "http_proxy",
            "https_proxy",
            "all_proxy",
        ] {
            std::env::set_var(var, &proxy_url);
        }
        std::env::remove_var("NO_PROXY");
        std::env::remove_var("no_proxy");
        std::env::remove_var("REQUEST_METHOD");
    }

    let sandbox = NetworkPolicy {
        allow_loopback: true,
        allow_private: false,
    };
    let client = openbsp_server::outbound::build(sandbox, Duration::from_secs(5)).unwrap();
    let status = client
        .post(&target_url)
        .body("{}")
        .send()
        .await
        .expect("the target answers")
        .status();
    assert_eq!(status, 200, "answered by the target, not the proxy");
    assert_eq!(at_target.load(Ordering::SeqCst), 1);
    assert_eq!(
        through_proxy.load(Ordering::SeqCst),
        0,
        "nothing went through the proxy"
    );
    // A refused destination stays refused: the guard, not a proxy, decides.
    let strict =
        openbsp_server::outbound::build(NetworkPolicy::default(), Duration::from_secs(5)).unwrap();
    let refused = strict
        .post(target_url.replace("127.0.0.1", "localhost"))
        .send()
        .await;
    assert!(refused.is_err(), "{refused:?}");
    assert_eq!(through_proxy.load(Ordering::SeqCst), 0);
}
