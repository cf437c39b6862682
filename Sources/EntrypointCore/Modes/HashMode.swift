// --hash FILE...: the Dropbox content hash of each file, like sha256sum.
import CShims
import Glibc

enum HashMode {
    /// Prints `<content hash>  <file>` for each file (the format of sha256sum).
    static func run(_ files: [String], log: Logger) -> Int32 {
        var status: Int32 = 0
        for file in files {
            do throws(SystemError) {
                let hash = try ContentHash.ofFile(file)
                print("\(hash)  \(file)")
            } catch {
                log.error("cannot hash \(file): \(error.message)")
                status = ExitCode.localIO.rawValue
            }
        }
        fflush(nil)
        return status
    }
}
