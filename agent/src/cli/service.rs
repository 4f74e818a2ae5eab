//! `payflow-agent service install|uninstall|run`: an instance as a Windows service
//! (`payflow-agent-NAME`, hosting `serve`) plus its daily scheduled task (`PayFlow run-due NAME`,
//! 06:00, a missed run caught up when the machine is back). On Linux the systemd units of the
//! Debian package do this; there the subcommand says so and exits 2.
//!
//! The pure parts (names, the service's command line, the task's XML) are plain functions
//! tested on every platform; only the calls to the Service Control Manager and `schtasks.exe`
//! are Windows-only.

// Used by the Windows half only; tested on every platform.
#![cfg_attr(not(windows), allow(dead_code))]

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Register the Windows service payflow-agent-NAME (automatic start, runs `serve`) and the
    /// scheduled task "PayFlow run-due NAME" (daily at 06:00, catching up a missed day).
    /// Config: --config, else %ProgramData%\PayFlow\NAME.toml. Run it as an administrator.
    Install(Instance),
    /// Stop and remove the service and the scheduled task of one instance (or of every
    /// instance with a config in %ProgramData%\PayFlow, with --all). Data and configs are kept.
    Uninstall(Uninstall),
    /// What the Service Control Manager starts: `serve` under the service dispatcher.
    Run(Instance),
}

#[derive(Debug, Args)]
pub struct Instance {
    /// The instance's name (letters, digits, '-' or '_').
    #[arg(long, value_name = "NAME")]
    instance: String,
}

#[derive(Debug, Args)]
pub struct Uninstall {
    /// The instance's name.
    #[arg(long, value_name = "NAME", required_unless_present = "all", conflicts_with = "all")]
    instance: Option<String>,
    /// Every instance whose config is in %ProgramData%\PayFlow (what the MSI's uninstall runs).
    #[arg(long)]
    all: bool,
}

impl Cmd {
    /// Whether this command logs to a file of its own (a service has no console).
    pub fn logs_to_file(&self) -> bool {
        matches!(self, Cmd::Run(_))
    }

    pub fn run(self, config: Option<&Path>) -> anyhow::Result<ExitCode> {
        let instance = match &self {
            Cmd::Install(i) | Cmd::Run(i) => Some(i.instance.as_str()),
            Cmd::Uninstall(u) => u.instance.as_deref(),
        };
        if let Some(name) = instance {
            if !instance_name_ok(name) {
                anyhow::bail!("instance {name:?}: expected a name of letters, digits, '-' or '_' (at most 64)");
            }
        }
        platform::run(self, config)
    }
}

/// The same rule as the config's `instance` key.
pub fn instance_name_ok(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The Windows service of an instance.
pub fn service_name(instance: &str) -> String {
    format!("payflow-agent-{instance}")
}

/// The scheduled task of an instance's daily run.
pub fn task_name(instance: &str) -> String {
    format!("PayFlow run-due {instance}")
}

/// `%ProgramData%\PayFlow`, given `%ProgramData%`.
pub fn payflow_dir(program_data: &Path) -> PathBuf {
    program_data.join("PayFlow")
}

/// The packaged default config of an instance: `%ProgramData%\PayFlow\NAME.toml`.
pub fn default_config(program_data: &Path, instance: &str) -> PathBuf {
    payflow_dir(program_data).join(format!("{instance}.toml"))
}

/// The instances with a config in `%ProgramData%\PayFlow` (every `NAME.toml` but the example).
pub fn instances_in(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let path = e.path();
            let stem = path.file_stem()?.to_str()?.to_owned();
            (path.extension()? == "toml" && stem != "example" && instance_name_ok(&stem)).then_some(stem)
        })
        .collect();
    names.sort();
    Ok(names)
}

/// The arguments the service is started with (after the executable).
pub fn service_arguments(config: &Path, instance: &str) -> Vec<OsString> {
    vec![
        "--config".into(),
        config.as_os_str().to_owned(),
        "service".into(),
        "run".into(),
        "--instance".into(),
        instance.into(),
    ]
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// The Task Scheduler definition of an instance's daily run: every day at 06:00 (the server's
/// local time) within a 10-minute random delay, as SYSTEM, and `StartWhenAvailable` so that a
/// run missed while the machine was off starts as soon as it is back (`run-due` itself then
/// catches up every missed period). `schtasks /Create /XML` reads it (see [`utf16_with_bom`]).
pub fn task_xml(exe: &Path, config: &Path, instance: &str) -> String {
    let exe = xml_escape(&exe.display().to_string());
    let config = xml_escape(&config.display().to_string());
    let workdir = xml_escape(&Path::new(&config).parent().map(|p| p.display().to_string()).unwrap_or_default());
    let uri = xml_escape(&task_name(instance));
    let instance = xml_escape(instance);
    format!(
        r#"<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo>
    <Description>PayFlow daily run of instance {instance}: every due payroll imported into Odoo, missed days caught up (payflow-agent run-due).</Description>
    <URI>\{uri}</URI>
  </RegistrationInfo>
  <Triggers>
    <CalendarTrigger>
      <StartBoundary>2025-01-01T06:00:00</StartBoundary>
      <Enabled>true</Enabled>
      <RandomDelay>PT10M</RandomDelay>
      <ScheduleByDay>
        <DaysInterval>1</DaysInterval>
      </ScheduleByDay>
    </CalendarTrigger>
  </Triggers>
  <Principals>
    <Principal id="Author">
      <UserId>S-1-5-18</UserId>
      <RunLevel>HighestAvailable</RunLevel>
    </Principal>
  </Principals>
  <Settings>
    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>
    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>
    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>
    <AllowHardTerminate>true</AllowHardTerminate>
    <StartWhenAvailable>true</StartWhenAvailable>
    <RunOnlyIfNetworkAvailable>false</RunOnlyIfNetworkAvailable>
    <IdleSettings>
      <StopOnIdleEnd>false</StopOnIdleEnd>
      <RestartOnIdle>false</RestartOnIdle>
    </IdleSettings>
    <AllowStartOnDemand>true</AllowStartOnDemand>
    <Enabled>true</Enabled>
    <Hidden>false</Hidden>
    <RunOnlyIfIdle>false</RunOnlyIfIdle>
    <WakeToRun>false</WakeToRun>
    <ExecutionTimeLimit>PT4H</ExecutionTimeLimit>
    <Priority>7</Priority>
  </Settings>
  <Actions Context="Author">
    <Exec>
      <Command>{exe}</Command>
      <Arguments>--config "{config}" run-due</Arguments>
      <WorkingDirectory>{workdir}</WorkingDirectory>
    </Exec>
  </Actions>
</Task>
"#
    )
}

/// UTF-16 little-endian with a byte-order mark: the encoding the task XML declares.
pub fn utf16_with_bom(text: &str) -> Vec<u8> {
    let mut out = vec![0xFF, 0xFE];
    for unit in text.encode_utf16() {
        out.extend_from_slice(&unit.to_le_bytes());
    }
    out
}

#[cfg(not(windows))]
mod platform {
    use super::*;

    pub fn run(_cmd: Cmd, _config: Option<&Path>) -> anyhow::Result<ExitCode> {
        eprintln!(
            "error: `payflow-agent service` is Windows-only; on Linux enable the systemd units of the package: \
             `systemctl enable --now payflow-agent@NAME payflow-run-due@NAME.timer`"
        );
        Ok(ExitCode::from(2))
    }
}

#[cfg(windows)]
mod platform {
    use std::ffi::OsStr;
    use std::process::Command;
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

    fn program_data() -> PathBuf {
        std::env::var_os("ProgramData").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(r"C:\ProgramData"))
    }

    pub fn run(cmd: Cmd, config: Option<&Path>) -> anyhow::Result<ExitCode> {
        let config_for =
            |instance: &str| config.map(Path::to_owned).unwrap_or_else(|| default_config(&program_data(), instance));
        match cmd {
            Cmd::Install(i) => install(&i.instance, &config_for(&i.instance)),
            Cmd::Uninstall(u) => {
                let names = match u.instance {
                    Some(name) => vec![name],
                    None => {
                        let dir = payflow_dir(&program_data());
                        instances_in(&dir).with_context(|| format!("cannot list the configs in {}", dir.display()))?
                    }
                };
                for name in names {
                    uninstall(&name)?;
                }
                Ok(ExitCode::SUCCESS)
            }
            Cmd::Run(i) => run_service(&i.instance, &config_for(&i.instance)),
        }
    }

    fn install(instance: &str, config_path: &Path) -> anyhow::Result<ExitCode> {
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
        println!("service {} created (automatic start)", service_name(instance));

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
        println!("scheduled task {:?} created (daily at 06:00, a missed run caught up)", task_name(instance));

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
                    println!(
                        "service {} installed but it stopped at once ({code:?}): see {}, fix, then `sc start {}`",
                        service_name(instance),
                        config.data_dir.join("payflow-agent.log").display(),
                        service_name(instance)
                    );
                    let config_error = code == ServiceExitCode::ServiceSpecific(u32::from(crate::cli::EX_CONFIG));
                    return Ok(if config_error { ExitCode::from(crate::cli::EX_CONFIG) } else { ExitCode::FAILURE });
                }
                println!("service {} started", service_name(instance));
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                println!(
                    "service {} installed but not started ({e}): see {}, fix, then `sc start {}`",
                    service_name(instance),
                    config.data_dir.join("payflow-agent.log").display(),
                    service_name(instance)
                );
                Ok(ExitCode::FAILURE)
            }
        }
    }

    fn uninstall(instance: &str) -> anyhow::Result<()> {
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
                println!("service {name} removed");
            }
            Err(windows_service::Error::Winapi(e)) if e.raw_os_error() == Some(ERROR_SERVICE_DOES_NOT_EXIST) => {
                println!("service {name}: not installed");
            }
            Err(e) => return Err(e).with_context(|| format!("cannot open the service {name}")),
        }
        let task = task_name(instance);
        match schtasks(&[OsStr::new("/Delete"), OsStr::new("/TN"), task.as_ref(), OsStr::new("/F")]) {
            Ok(()) => println!("scheduled task {task:?} removed"),
            Err(e) => println!("scheduled task {task:?}: not removed ({e:#})"),
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

    fn run_service(instance: &str, config_path: &Path) -> anyhow::Result<ExitCode> {
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
        let result =
            runtime.block_on(crate::cli::serve::run_until(&hosted.config_path, hosted.config.clone(), shutdown));
        let code = match &result {
            Ok(_) => ServiceExitCode::Win32(0),
            Err(e) => {
                tracing::error!("{e:#}");
                ServiceExitCode::Win32(1)
            }
        };
        handle.set_service_status(status(
            ServiceState::Stopped,
            ServiceControlAccept::empty(),
            Duration::ZERO,
            code,
        ))?;
        result.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_default_config() {
        assert_eq!(service_name("prod"), "payflow-agent-prod");
        assert_eq!(task_name("prod"), "PayFlow run-due prod");
        assert_eq!(default_config(Path::new("/pd"), "prod"), Path::new("/pd/PayFlow/prod.toml"));
        assert!(instance_name_ok("prod-2_b"));
        for bad in ["", "pr od", "a\"b", "a/b", "é", &"x".repeat(65)] {
            assert!(!instance_name_ok(bad), "{bad:?}");
        }
    }

    #[test]
    fn service_runs_serve_for_its_instance_and_config() {
        let args = service_arguments(Path::new(r"C:\ProgramData\PayFlow\prod.toml"), "prod");
        let args: Vec<_> = args.iter().map(|a| a.to_str().unwrap()).collect();
        assert_eq!(args, ["--config", r"C:\ProgramData\PayFlow\prod.toml", "service", "run", "--instance", "prod"]);
        // And clap reads them back as the `service run` command with that config.
        let cli =
            <crate::cli::Cli as clap::Parser>::try_parse_from(std::iter::once("payflow-agent").chain(args)).unwrap();
        assert_eq!(cli.config.as_deref(), Some(Path::new(r"C:\ProgramData\PayFlow\prod.toml")));
        assert!(matches!(cli.command, crate::cli::Command::Service(Cmd::Run(ref i)) if i.instance == "prod"));
    }

    #[test]
    fn task_is_daily_at_six_catching_up_as_system() {
        let xml = task_xml(
            Path::new(r"C:\Program Files\PayFlow\payflow-agent.exe"),
            Path::new(r"C:\ProgramData\PayFlow\R&D.toml"),
            "prod",
        );
        for needle in [
            r#"<?xml version="1.0" encoding="UTF-16"?>"#,
            "<StartBoundary>2025-01-01T06:00:00</StartBoundary>",
            "<DaysInterval>1</DaysInterval>",
            "<RandomDelay>PT10M</RandomDelay>",
            "<StartWhenAvailable>true</StartWhenAvailable>",
            "<MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>",
            "<UserId>S-1-5-18</UserId>",
            r"<URI>\PayFlow run-due prod</URI>",
            r"<Command>C:\Program Files\PayFlow\payflow-agent.exe</Command>",
            r#"<Arguments>--config "C:\ProgramData\PayFlow\R&amp;D.toml" run-due</Arguments>"#,
        ] {
            assert!(xml.contains(needle), "missing {needle} in\n{xml}");
        }
        assert!(!xml.contains("R&D"), "unescaped &");
        // Well formed: every element opened is closed, in order.
        let mut stack = Vec::new();
        for tag in xml.split('<').skip(2).map(|t| t.split('>').next().unwrap()) {
            let name = tag.split_whitespace().next().unwrap();
            if let Some(closing) = name.strip_prefix('/') {
                assert_eq!(stack.pop(), Some(closing), "{xml}");
            } else if !tag.ends_with('/') {
                stack.push(name);
            }
        }
        assert!(stack.is_empty(), "unclosed {stack:?}");
    }

    #[test]
    fn utf16_has_a_bom_and_round_trips() {
        let bytes = utf16_with_bom("<é>");
        assert_eq!(&bytes[..2], &[0xFF, 0xFE]);
        let units: Vec<u16> = bytes[2..].chunks(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
        assert_eq!(String::from_utf16(&units).unwrap(), "<é>");
    }

    #[test]
    fn instances_are_the_configs_but_the_example() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["prod.toml", "example.toml", "test-2.toml", "notes.txt", "bad name.toml"] {
            std::fs::write(dir.path().join(f), "").unwrap();
        }
        std::fs::create_dir(dir.path().join("prod")).unwrap();
        assert_eq!(instances_in(dir.path()).unwrap(), ["prod", "test-2"]);
    }
}
