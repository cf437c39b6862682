// Signal names for the operator's lines.
import Glibc

func signalName(_ sig: Int32) -> String {
    switch sig {
    case SIGTERM: "SIGTERM"
    case SIGINT: "SIGINT"
    case SIGHUP: "SIGHUP"
    case SIGQUIT: "SIGQUIT"
    default: "signal \(sig)"
    }
}
