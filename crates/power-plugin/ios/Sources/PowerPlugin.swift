import Foundation
import Network
import Tauri
import UIKit

// Battery, Low Power Mode and the network path, read for Festival Chat's power policy.
class PowerPlugin: Plugin {
  private let queue = DispatchQueue(label: "app.festival.power")
  private let monitor = NWPathMonitor()
  private var path: NWPath?

  override init() {
    super.init()
    monitor.pathUpdateHandler = { [weak self] path in
      self?.path = path
    }
    monitor.start(queue: queue)
  }

  @objc public func readPower(_ invoke: Invoke) throws {
    DispatchQueue.main.async {
      let device = UIDevice.current
      device.isBatteryMonitoringEnabled = true
      var reading: JsonObject = [
        "charging": device.batteryState == .charging || device.batteryState == .full,
        "saver": ProcessInfo.processInfo.isLowPowerModeEnabled,
      ]
      // -1: unknown (the simulator): read as mains.
      if device.batteryLevel >= 0 {
        reading["percent"] = Int((device.batteryLevel * 100).rounded())
      }
      invoke.resolve(reading)
    }
  }

  @objc public func readNetwork(_ invoke: Invoke) throws {
    let path = queue.sync { self.path }
    var kind = "none"
    if let path = path, path.status == .satisfied {
      if path.usesInterfaceType(.wifi) {
        kind = "wifi"
      } else if path.usesInterfaceType(.wiredEthernet) {
        kind = "ethernet"
      } else if path.usesInterfaceType(.cellular) {
        kind = "cellular"
      } else {
        kind = "unknown"
      }
    }
    let metered = path.map { $0.isExpensive || $0.isConstrained } ?? false
    invoke.resolve(["kind": kind, "metered": metered])
  }
}

@_cdecl("init_plugin_festival_power")
func initPlugin() -> Plugin {
  return PowerPlugin()
}
