// On Railway, a database that is not on the attached volume is said at every start.
import Foundation
import TestSupport
import Testing

@Suite struct VolumeWarningTests {
    @Test func aDatabaseOutsideRailwaysVolumeIsOneWarningAtEveryStart() throws {
        let w = try World()
        try w.publish(["base"])
        let env = w.env(["RAILWAY_ENVIRONMENT": "production", "RAILWAY_VOLUME_MOUNT_PATH": "/app/data"])
        for _ in 0..<2 {
            let r = try run(["true"], env: env)
            #expect(r.status == 0, "\(r.output)")
            let warnings = lines(r.stderr, containing: "RAILWAY_VOLUME_MOUNT_PATH=/app/data")
            #expect(warnings.count == 1 && warnings[0].contains("warning:") && warnings[0].contains("RAILWAY_ENVIRONMENT"), "\(r.stderr)")
        }
        // Under the volume: nothing said.
        let r = try run(["true"], env: w.env(["RAILWAY_ENVIRONMENT": "production", "RAILWAY_VOLUME_MOUNT_PATH": w.volume.path]))
        #expect(!r.stderr.contains("RAILWAY_VOLUME_MOUNT_PATH"), "\(r.stderr)")
    }
}
