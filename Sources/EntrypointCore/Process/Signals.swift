// Signal names for the operator's lines.
import Glibc

func signalName(_ sig: Int32) -> String {
    switch sig {
    case SIGTERM: "SIGTERM"
    case SIGINT: "SIGINT"
    case SIGHUP: "SIGHUP"
    case SIGQUIT: "SIGQUIT"
    case SIGUSR1: "SIGUSR1"
    case SIGUSR2: "SIGUSR2"
    case SIGWINCH: "SIGWINCH"
    case SIGKILL: "SIGKILL"
    case SIGCHLD: "SIGCHLD"
    case SIGSEGV: "SIGSEGV"
    case SIGABRT: "SIGABRT"
    default: "signal \(sig)"
    }
}
