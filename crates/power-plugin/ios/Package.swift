// swift-tools-version:5.3

import PackageDescription

let package = Package(
    name: "tauri-plugin-festival-power",
    platforms: [
        .iOS(.v13),
    ],
    products: [
        .library(
            name: "tauri-plugin-festival-power",
            type: .static,
            targets: ["tauri-plugin-festival-power"]),
    ],
    dependencies: [
        .package(name: "Tauri", path: "../.tauri/tauri-api")
    ],
    targets: [
        .target(
            name: "tauri-plugin-festival-power",
            dependencies: [
                .byName(name: "Tauri")
            ],
            path: "Sources")
    ]
)
