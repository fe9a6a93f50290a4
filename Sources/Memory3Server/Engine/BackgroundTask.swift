/// Work that runs on the generation worker between generations, in steps short enough that a
/// waiting completion is not held up for long (one reference encoded, for ingestion).
public protocol BackgroundTask: AnyObject, Sendable {
    /// Runs one step; returns false when the task is finished (done or failed).
    func step() -> Bool
    /// The server is stopping before the task finished.
    func abandon()
}
