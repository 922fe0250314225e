//! The `strata` binary: parse the command line, then serve or run an admin command.

use clap::Parser;
use strata::cli::{Cli, Command, HookCommand, LogFormat};
use strata::AppState;
use tracing_subscriber::EnvFilter;

/// mimalloc: less time in the allocator on the request path than glibc's malloc, and less
/// fragmentation in a long-running server.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let filter = EnvFilter::try_from_env("STRATA_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Json => logs.json().with_current_span(true).init(),
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
    let result = match cli.command {
        Command::Serve(config) => serve(config).await,
        Command::Migrate(config) => strata::cli::admin::migrate(&config).await,
        Command::Admin { config, command } => strata::cli::admin::run(&config, command).await,
        Command::Jobs {
            server,
            token,
            json,
            command,
        } => strata::cli::jobs::run(&server, token, json, command).await,
        Command::Hook {
            hook: HookCommand::PreReceive,
        } => strata_core::hook::pre_receive().await.map_err(Into::into),
        Command::Hook {
            hook: HookCommand::ReferenceTransaction { state },
        } => strata_core::hook::reference_transaction(&state)
            .await
            .map_err(Into::into),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("strata: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve(config: strata_core::config::Config) -> Result<(), Box<dyn std::error::Error>> {
    let state = AppState::build(&config).await?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let until = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    if let Some(addr) = config.s3_listen {
        let s3 = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| format!("cannot listen on {addr} for the S3 gateway: {e}"))?;
        let (state, until) = (state.clone(), until(stopped.clone()));
        tokio::spawn(async move {
            if let Err(e) = strata::run_s3(s3, state, until).await {
                tracing::error!(error = %e, "the S3 gateway stopped");
            }
        });
    }
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop.send(true);
    });
    strata::run(listener, state, until(stopped)).await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}
