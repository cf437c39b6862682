// entrypoint: restore the SQLite database from Dropbox, then become the wrapped command.
import EntrypointCore
import Glibc

var environment: [String: String] = [:]
var entry = environ
while let pointer = entry.pointee {
    let pair = String(cString: pointer)
    if let eq = pair.firstIndex(of: "="), environment[String(pair[..<eq])] == nil {
        environment[String(pair[..<eq])] = String(pair[pair.index(after: eq)...])
    }
    entry += 1
}
let log = Logger(level: .info)
exit(Entrypoint.run(arguments: Array(CommandLine.arguments.dropFirst()), environment: environment, log: log))
