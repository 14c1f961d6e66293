//! `keyholder`: serve, migrate, create orgs, print the OpenAPI document.

use clap::{Parser, Subcommand};
use keyholder::{Settings, demo, open, serve};
use keyholder_domain::model::RequestContext;
use keyholder_domain::services::NewOrg;
use std::io::Write as _;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "keyholder",
    version,
    about = "Access management for school safeguarding and care record systems"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Migrate the database, then serve HTTP on KEYHOLDER_BIND.
    Serve {
        /// First create the org `demo` and print its admin's login (once).
        #[arg(long)]
        demo: bool,
    },
    /// Bring the database schema up to date.
    Migrate,
    /// Organisations.
    Org {
        #[command(subcommand)]
        command: OrgCommand,
    },
    /// Print the OpenAPI document.
    Openapi,
    /// N2: daily digests.
    Digests {
        #[command(subcommand)]
        command: DigestsCommand,
    },
    /// Access-token signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// The audit trail (AU3).
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Subcommand)]
enum DigestsCommand {
    /// Send the digests due now (each user's at most once per local day, whoever runs it).
    Send {
        /// Only this org (its slug).
        #[arg(long)]
        org: Option<String>,
        /// As if it were this time (RFC 3339) rather than now: what was due then. A digest
        /// covers what was recorded up to two minutes before it.
        #[arg(long)]
        at: Option<String>,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// A new key signs from now on; the previous one verifies until its tokens expire; older
    /// ones are retired. Every replica sees it at once (keys live in the database).
    Rotate,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Walk an org's hash chain; prints JSON and exits 1 when an entry was edited or deleted.
    Verify {
        #[arg(long)]
        org: String,
    },
}

#[derive(Subcommand)]
enum OrgCommand {
    /// Create an org with the default categories and groups and its first admin (prints JSON).
    Create {
        #[arg(long)]
        slug: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        admin_email: String,
        /// Without it a password is generated and printed once.
        #[arg(long)]
        admin_password: Option<String>,
    },
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn"));
    let json = std::env::var("KEYHOLDER_LOG_FORMAT").is_ok_and(|f| f == "json");
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("keyholder: {msg}");
    ExitCode::FAILURE
}

/// Memory (issue 11): mimalloc, told before its first allocation to hand freed pages back to the
/// system at once. By default it commits its arenas eagerly and then only resets what it frees
/// (still resident), and it purges late: 114 MiB resident after the README walkthrough, against
/// 42 MiB so. The options must be set before its first arena is made, which happens on the
/// process's first allocation, before `main`.
struct Allocator;

static ALLOCATOR_TUNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

impl Allocator {
    #[inline]
    fn tuned() {
        use std::sync::atomic::Ordering;
        if !ALLOCATOR_TUNED.load(Ordering::Relaxed) {
            // mimalloc 3's `mi_option_t` numbers (`include/mimalloc.h`), which the bindings do not
            // name: `mi_option_arena_eager_commit`, `mi_option_purge_delay`.
            const ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
            const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
            // SAFETY: `mi_option_set` only stores a value in mimalloc's table of options; setting
            // one twice (two threads racing here) stores the same value.
            unsafe {
                libmimalloc_sys::mi_option_set(ARENA_EAGER_COMMIT, 0);
                libmimalloc_sys::mi_option_set(PURGE_DELAY, 0);
            }
            ALLOCATOR_TUNED.store(true, Ordering::Relaxed);
        }
    }
}

// SAFETY: every call is mimalloc's, after the options are set.
unsafe impl std::alloc::GlobalAlloc for Allocator {
    #[inline]
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        Self::tuned();
        // SAFETY: the caller's contract, passed on.
        unsafe { mimalloc::MiMalloc.alloc(layout) }
    }
    #[inline]
    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        Self::tuned();
        // SAFETY: the caller's contract, passed on.
        unsafe { mimalloc::MiMalloc.alloc_zeroed(layout) }
    }
    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: the caller's contract, passed on.
        unsafe { mimalloc::MiMalloc.dealloc(ptr, layout) }
    }
    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        unsafe { mimalloc::MiMalloc.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Allocator = Allocator;

fn main() -> ExitCode {
    tune_allocator();
    actix_web::rt::System::new().block_on(run())
}

fn tune_allocator() {
    // SQLite's pages and the C libraries' buffers still come from glibc: a fixed mmap threshold
    // keeps large ones in mappings of their own, returned when freed (glibc otherwise raises it
    // to the first large buffer freed and keeps later ones in an arena).
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only sets glibc's parameters, with constants glibc documents; it runs
    // before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
    }
}

async fn run() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Openapi = cli.command {
        return match keyholder_api::openapi().to_pretty_json() {
            // Piped into `head` or `jq` that stops reading: a closed pipe ends the command quietly.
            Ok(json) => match writeln!(std::io::stdout().lock(), "{json}") {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
                Err(e) => fail(e),
            },
            Err(e) => fail(e),
        };
    }
    init_tracing();
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let (store, kh) = match open(&settings).await {
        Ok(x) => x,
        Err(e) => return fail(e),
    };
    match cli.command {
        Command::Openapi => ExitCode::SUCCESS,
        Command::Migrate => {
            tracing::info!(backend = store.backend(), "database is up to date");
            ExitCode::SUCCESS
        }
        Command::Org {
            command:
                OrgCommand::Create {
                    slug,
                    name,
                    admin_email,
                    admin_password,
                },
        } => {
            let ctx = RequestContext {
                ip: None,
                request_id: Some("cli".into()),
            };
            let new = NewOrg {
                slug,
                name,
                admin_email,
                admin_password,
            };
            match kh.system_create_org(new, &ctx).await {
                Ok(c) => {
                    let out = serde_json::json!({
                        "org": {"id": c.org.id, "slug": c.org.slug, "name": c.org.name},
                        "admin": {"id": c.admin.id, "email": c.admin.email},
                        "admin_password": c.generated_password,
                    });
                    println!("{out:#}");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(format!("{e} {}", field_errors(&e))),
            }
        }
        Command::Digests {
            command: DigestsCommand::Send { org, at },
        } => {
            let at = match at.as_deref().map(|t| {
                time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
            }) {
                None => time::OffsetDateTime::now_utc(),
                Some(Ok(t)) => t,
                Some(Err(_)) => {
                    return fail("--at is a time in RFC 3339, e.g. 2026-12-02T16:00:00Z");
                }
            };
            match kh.system_send_digests(org.as_deref(), at).await {
                Ok(run) => {
                    let out = serde_json::json!({
                        "orgs_due": run.orgs_due,
                        "users": run.users,
                        "emails": run.emails,
                        "failed": run.failed,
                    });
                    println!("{out:#}");
                    ExitCode::SUCCESS
                }
                Err(keyholder_domain::DomainError::NotFound) => {
                    fail(format!("no org `{}`", org.unwrap_or_default()))
                }
                Err(e) => fail(e),
            }
        }
        Command::Keys {
            command: KeysCommand::Rotate,
        } => match kh.system_rotate_signing_key().await {
            Ok((kid, retired)) => {
                println!("{:#}", serde_json::json!({"kid": kid, "retired": retired}));
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        },
        Command::Audit {
            command: AuditCommand::Verify { org },
        } => match kh.system_verify_audit(&org).await {
            Ok(v) => {
                let out = serde_json::json!({
                    "valid": v.valid,
                    "checked": v.checked,
                    "first_bad_id": v.first_bad_id,
                    "detail": v.detail,
                });
                println!("{out:#}");
                if v.valid {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                }
            }
            Err(keyholder_domain::DomainError::NotFound) => fail(format!("no org `{org}`")),
            Err(e) => fail(e),
        },
        Command::Serve { demo } => {
            if demo {
                match demo::system_seed(&kh).await {
                    Ok(Some(login)) => {
                        println!("Demo org created. Its admin's login, shown once:");
                        println!("  org:      {}", login.org);
                        println!("  login:    {}", login.login);
                        println!("  password: {}", login.password);
                    }
                    Ok(None) => println!(
                        "Demo org `demo` already exists; its admin's login was printed when it was made."
                    ),
                    Err(e) => return fail(e),
                }
            }
            if let Err(e) = keyholder::start_mail_worker(&settings, kh.clone()) {
                return fail(e);
            }
            keyholder::start_digest_worker(kh.clone());
            let running = match serve(&settings, kh) {
                Ok(r) => r,
                Err(e) => return fail(format!("cannot bind {}: {e}", settings.bind)),
            };
            tracing::info!(addr = %running.addr, backend = store.backend(), "serving");
            match running.server.await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(e),
            }
        }
    }
}

fn field_errors(e: &keyholder_domain::DomainError) -> String {
    match e {
        keyholder_domain::DomainError::Validation(errors) => errors
            .iter()
            .map(|f| format!("[{}: {}]", f.field, f.message))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}
