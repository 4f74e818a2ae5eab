//! An instance as a Windows service (`payflow-agent-NAME`, hosting `serve`) plus its daily
//! scheduled task (`PayFlow run-due NAME`, 06:00, a missed run caught up when the machine is
//! back). `cli/service.rs` is its command line; on Linux the Debian package's systemd units do
//! this.
//!
//! The pure parts (names, the service's command line, the task's XML) are plain functions
//! tested on every platform; only the calls to the Service Control Manager and `schtasks.exe`
//! (`scm`) are Windows-only.

// Used by the Windows half only; tested on every platform.
#![cfg_attr(not(windows), allow(dead_code))]

use std::ffi::OsString;
use std::path::{Path, PathBuf};

#[cfg(windows)]
mod scm;
#[cfg(windows)]
pub use scm::{install, program_data, run_service, uninstall};

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
