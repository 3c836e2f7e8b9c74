package app.festival.power

import android.app.Activity
import android.content.Context
import android.net.ConnectivityManager
import android.net.Network
import android.net.NetworkCapabilities
import android.os.BatteryManager
import android.os.PowerManager
import android.webkit.WebView
import app.tauri.annotation.Command
import app.tauri.annotation.TauriPlugin
import app.tauri.plugin.Invoke
import app.tauri.plugin.JSObject
import app.tauri.plugin.Plugin

// Battery, battery saver and the default network, read for Festival Chat's power policy.
@TauriPlugin
class PowerPlugin(private val activity: Activity) : Plugin(activity) {
    @Volatile private var kind = "none"
    @Volatile private var metered = false

    override fun load(webView: WebView) {
        val connectivity =
            activity.getSystemService(Context.CONNECTIVITY_SERVICE) as ConnectivityManager
        connectivity.registerDefaultNetworkCallback(object : ConnectivityManager.NetworkCallback() {
            override fun onCapabilitiesChanged(network: Network, caps: NetworkCapabilities) {
                kind = when {
                    caps.hasTransport(NetworkCapabilities.TRANSPORT_WIFI) -> "wifi"
                    caps.hasTransport(NetworkCapabilities.TRANSPORT_ETHERNET) -> "ethernet"
                    caps.hasTransport(NetworkCapabilities.TRANSPORT_CELLULAR) -> "cellular"
                    else -> "unknown"
                }
                metered = !caps.hasCapability(NetworkCapabilities.NET_CAPABILITY_NOT_METERED)
            }

            override fun onLost(network: Network) {
                kind = "none"
                metered = false
            }
        })
    }

    @Command
    fun readPower(invoke: Invoke) {
        val battery = activity.getSystemService(Context.BATTERY_SERVICE) as BatteryManager
        val power = activity.getSystemService(Context.POWER_SERVICE) as PowerManager
        val percent = battery.getIntProperty(BatteryManager.BATTERY_PROPERTY_CAPACITY)
        val reading = JSObject()
        // Integer.MIN_VALUE: the device cannot tell (no battery, an emulator).
        if (percent in 0..100) reading.put("percent", percent)
        reading.put("charging", battery.isCharging)
        reading.put("saver", power.isPowerSaveMode)
        invoke.resolve(reading)
    }

    @Command
    fun readNetwork(invoke: Invoke) {
        val reading = JSObject()
        reading.put("kind", kind)
        reading.put("metered", metered)
        invoke.resolve(reading)
    }
}
