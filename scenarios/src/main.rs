//! `breakwater`: seeded chaos scenarios for the Breakwater circuit breaker.
//! All the work is in the library (`breakwater_scenarios::cli`), so tests
//! and other tools can drive the same commands.

fn main() -> std::process::ExitCode {
    breakwater_scenarios::cli::main()
}
