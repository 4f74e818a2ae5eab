fn main() -> std::process::ExitCode {
    payflow_agent::cli::main()
}
