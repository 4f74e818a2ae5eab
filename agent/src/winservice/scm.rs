//! The Windows half: the Service Control Manager (install, uninstall, the hosted `serve`) and
//! `schtasks.exe` for the daily task.

use std::ffi::OsStr;
use std::process::{Command, ExitCode};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use windows_service::service::{
    ServiceAccess, ServiceControl, ServiceControlAccept, ServiceErrorControl, ServiceExitCode, ServiceInfo,
    ServiceStartType, ServiceState, ServiceStatus, ServiceType,
};
use windows_service::service_control_handler::{self, ServiceControlHandlerResult};
use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};
use windows_service::{define_windows_service, service_dispatcher};

use super::*;
use crate::config::Config;

const ERROR_SERVICE_DOES_NOT_EXIST: i32 = 1060;

pub fn program_data() -> PathBuf {
    std::env::var_os("ProgramData").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(r"C:\ProgramData"))
}

pub fn install(instance: &str, config_path: &Path) -> anyhow::Result<ExitCode> {
    let config = Config::load(config_path)?;
    if config.instance != instance {
        anyhow::bail!(
            "{}: its instance is {:?}, not {instance:?}: give the config of this instance with --config",
            config_path.display(),
            config.instance
        );
    }
    // The instance's data (SQLite, secret store and its key) for SYSTEM and Administrators
    // only: %ProgramData%'s inherited rights would let every local user read them.
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create {}", config.data_dir.display()))?;
    restrict_to_admins(&config.data_dir)?;
    let exe = std::env::current_exe().context("cannot find this executable's path")?;
    let manager = ServiceManager::local_computer(
        None::<&str>,
        ServiceManagerAccess::CONNECT | ServiceManagerAccess::CREATE_SERVICE,
    )
    .context("cannot open the Service Control Manager (run this as an administrator)")?;
    let info = ServiceInfo {
        name: service_name(instance).into(),
        display_name: format!("PayFlow agent ({instance})").into(),
        service_type: ServiceType::OWN_PROCESS,
        start_type: ServiceStartType::AutoStart,
        error_control: ServiceErrorControl::Normal,
        executable_path: exe.clone(),
        launch_arguments: service_arguments(config_path, instance),
        dependencies: vec![],
        account_name: None, // LocalSystem
        account_password: None,
    };
    let service = manager
        .create_service(&info, ServiceAccess::CHANGE_CONFIG | ServiceAccess::START | ServiceAccess::QUERY_STATUS)
        .with_context(|| format!("cannot create the service {}", service_name(instance)))?;
    service
        .set_description("Moves Silae payroll journals into Odoo; the JSON-RPC service of the Odoo addon")
        .context("cannot describe the service")?;
    crate::cli::out::outln!("service {} created (automatic start)", service_name(instance));

    let xml = std::env::temp_dir().join(format!("payflow-task-{instance}.xml"));
    std::fs::write(&xml, utf16_with_bom(&task_xml(&exe, config_path, instance)))
        .with_context(|| format!("cannot write {}", xml.display()))?;
    let created = schtasks(&[
        OsStr::new("/Create"),
        OsStr::new("/TN"),
        task_name(instance).as_ref(),
        OsStr::new("/XML"),
        xml.as_os_str(),
        OsStr::new("/F"),
    ]);
    let _ = std::fs::remove_file(&xml);
    created.with_context(|| format!("cannot create the scheduled task {:?}", task_name(instance)))?;
    crate::cli::out::outln!(
        "scheduled task {:?} created (daily at 06:00, a missed run caught up)",
        task_name(instance)
    );

    match service.start(&[] as &[&OsStr]) {
        Ok(()) => {
            // The service checks its config and secrets first and stops at once on a
            // problem (exit code 78, no recovery action: never restarted): wait for it.
            let deadline = Instant::now() + Duration::from_secs(20);
            let mut state = service.query_status().map(|s| (s.current_state, s.exit_code));
            while matches!(state, Ok((ServiceState::StartPending, _))) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(200));
                state = service.query_status().map(|s| (s.current_state, s.exit_code));
            }
            if let Ok((ServiceState::Stopped, code)) = state {
                crate::cli::out::outln!(
                    "service {} installed but it stopped at once ({code:?}): see {}, fix, then `sc start {}`",
                    service_name(instance),
                    config.data_dir.join("payflow-agent.log").display(),
                    service_name(instance)
                );
                let config_error = code == ServiceExitCode::ServiceSpecific(u32::from(crate::cli::EX_CONFIG));
                return Ok(if config_error { ExitCode::from(crate::cli::EX_CONFIG) } else { ExitCode::FAILURE });
            }
            crate::cli::out::outln!("service {} started", service_name(instance));
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            crate::cli::out::outln!(
                "service {} installed but not started ({e}): see {}, fix, then `sc start {}`",
                service_name(instance),
                config.data_dir.join("payflow-agent.log").display(),
                service_name(instance)
            );
            Ok(ExitCode::FAILURE)
        }
    }
}

pub fn uninstall(instance: &str) -> anyhow::Result<()> {
    let manager = ServiceManager::local_computer(None::<&str>, ServiceManagerAccess::CONNECT)
        .context("cannot open the Service Control Manager (run this as an administrator)")?;
    let name = service_name(instance);
    match manager.open_service(&name, ServiceAccess::QUERY_STATUS | ServiceAccess::STOP | ServiceAccess::DELETE) {
        Ok(service) => {
            let status = service.query_status()?;
            if status.current_state != ServiceState::Stopped {
                service.stop().with_context(|| format!("cannot stop the service {name}"))?;
                let deadline = Instant::now() + Duration::from_secs(90);
                while service.query_status()?.current_state != ServiceState::Stopped && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(500));
                }
                // "Stopped" is reported just before the process exits: wait for the exit too,
                // so that the installer can then remove the executable.
                if let Some(pid) = status.process_id {
                    wait_for_exit(pid, deadline.saturating_duration_since(Instant::now()));
                }
            }
            service.delete().with_context(|| format!("cannot delete the service {name}"))?;
            crate::cli::out::outln!("service {name} removed");
        }
        Err(windows_service::Error::Winapi(e)) if e.raw_os_error() == Some(ERROR_SERVICE_DOES_NOT_EXIST) => {
            crate::cli::out::outln!("service {name}: not installed");
        }
        Err(e) => return Err(e).with_context(|| format!("cannot open the service {name}")),
    }
    let task = task_name(instance);
    match schtasks(&[OsStr::new("/Delete"), OsStr::new("/TN"), task.as_ref(), OsStr::new("/F")]) {
        Ok(()) => crate::cli::out::outln!("scheduled task {task:?} removed"),
        Err(e) => crate::cli::out::outln!("scheduled task {task:?}: not removed ({e:#})"),
    }
    Ok(())
}

/// Waits (at most `timeout`) for the process `pid` to end; returns at once if it is gone.
fn wait_for_exit(pid: u32, timeout: Duration) {
    use windows_sys::Win32::Foundation::CloseHandle;
    use windows_sys::Win32::System::Threading::{OpenProcess, WaitForSingleObject, PROCESS_SYNCHRONIZE};
    // SAFETY: a handle opened here, waited on and closed here; a null handle means the
    // process is already gone (or cannot be seen), and nothing is waited for.
    unsafe {
        let handle = OpenProcess(PROCESS_SYNCHRONIZE, 0, pid);
        if handle.is_null() {
            return;
        }
        WaitForSingleObject(handle, timeout.as_millis().min(u32::MAX as u128) as u32);
        CloseHandle(handle);
    }
}

fn schtasks(args: &[&OsStr]) -> anyhow::Result<()> {
    let out = Command::new("schtasks.exe").args(args).output().context("cannot run schtasks.exe")?;
    if out.status.success() {
        Ok(())
    } else {
        anyhow::bail!("schtasks.exe: {}", String::from_utf8_lossy(&out.stderr).trim())
    }
}

fn restrict_to_admins(dir: &Path) -> anyhow::Result<()> {
    // SIDs, not names, so that it works on every language of Windows.
    let out = Command::new("icacls.exe")
        .arg(dir)
        .args(["/inheritance:r", "/grant:r", "*S-1-5-18:(OI)(CI)F", "*S-1-5-32-544:(OI)(CI)F", "/Q"])
        .output()
        .context("cannot run icacls.exe")?;
    if !out.status.success() {
        anyhow::bail!(
            "cannot restrict {} to SYSTEM and Administrators: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stdout).trim()
        );
    }
    Ok(())
}

struct Hosted {
    instance: String,
    config_path: PathBuf,
    config: Config,
}
static HOSTED: OnceLock<Hosted> = OnceLock::new();

define_windows_service!(ffi_service_main, service_main);

pub fn run_service(instance: &str, config_path: &Path) -> anyhow::Result<ExitCode> {
    let config = Config::load(config_path)?;
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create {}", config.data_dir.display()))?;
    let log_path = config.data_dir.join("payflow-agent.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("cannot open the log {}", log_path.display()))?;
    crate::cli::init_logging(std::sync::Mutex::new(log), false);
    let _ = HOSTED.set(Hosted { instance: instance.to_owned(), config_path: config_path.to_owned(), config });
    service_dispatcher::start(service_name(instance), ffi_service_main)
        .context("not started by the Service Control Manager (use `service install`, then `sc start`)")?;
    Ok(ExitCode::SUCCESS)
}

fn service_main(_arguments: Vec<OsString>) {
    let Some(hosted) = HOSTED.get() else { return };
    if let Err(e) = host(hosted) {
        tracing::error!("the service stopped on an error: {e:#}");
    }
}

fn host(hosted: &Hosted) -> anyhow::Result<()> {
    let stop = Arc::new(tokio::sync::Notify::new());
    let on_stop = stop.clone();
    let handle = service_control_handler::register(service_name(&hosted.instance), move |control| match control {
        ServiceControl::Stop | ServiceControl::Shutdown => {
            on_stop.notify_one();
            ServiceControlHandlerResult::NoError
        }
        ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
        _ => ServiceControlHandlerResult::NotImplemented,
    })?;
    let status = |state, accepted, wait_hint, code| ServiceStatus {
        service_type: ServiceType::OWN_PROCESS,
        current_state: state,
        controls_accepted: accepted,
        exit_code: code,
        checkpoint: 0,
        wait_hint,
        process_id: None,
    };
    // A config or secret problem: stopped at once with the service-specific code 78 (the
    // service has no recovery action, so the SCM does not restart it), the reason in the log.
    if let Err(problem) = crate::cli::check::require_secrets(&hosted.config) {
        tracing::error!("{problem}; then `sc start {}`", service_name(&hosted.instance));
        handle.set_service_status(status(
            ServiceState::Stopped,
            ServiceControlAccept::empty(),
            Duration::ZERO,
            ServiceExitCode::ServiceSpecific(u32::from(crate::cli::EX_CONFIG)),
        ))?;
        return Ok(());
    }
    handle.set_service_status(status(
        ServiceState::Running,
        ServiceControlAccept::STOP | ServiceControlAccept::SHUTDOWN,
        Duration::ZERO,
        ServiceExitCode::Win32(0),
    ))?;
    let shutdown = async move {
        stop.notified().await;
        tracing::info!("stop requested by the Service Control Manager");
        // The RPC service finishes its requests and background jobs within 60 s.
        let _ = handle.set_service_status(status(
            ServiceState::StopPending,
            ServiceControlAccept::empty(),
            Duration::from_secs(65),
            ServiceExitCode::Win32(0),
        ));
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let result = runtime.block_on(crate::cli::serve::run_until(&hosted.config_path, hosted.config.clone(), shutdown));
    let code = match &result {
        Ok(_) => ServiceExitCode::Win32(0),
        Err(e) => {
            tracing::error!("{e:#}");
            ServiceExitCode::Win32(1)
        }
    };
    handle.set_service_status(status(ServiceState::Stopped, ServiceControlAccept::empty(), Duration::ZERO, code))?;
    result.map(|_| ())
}
