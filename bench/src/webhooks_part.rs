//! The parts of the `webhooks` scenario: what it can measure. The scenario
//! ([`crate::webhooks`]) runs them and its report ([`crate::webhooks_report`]) names them.

/// What to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Part {
    /// Deliveries per second to one endpoint.
    OneEndpoint,
    /// Deliveries per second spread over `--endpoints` endpoints.
    ManyEndpoints,
    /// Lag from a contact update to its delivery, at `--rate` updates per second.
    Lag,
}

impl Part {
    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Part::OneEndpoint => "one-endpoint",
            Part::ManyEndpoints => "many-endpoints",
            Part::Lag => "lag",
        }
    }
}
