@description('Name of the Function App; its default host name is <name>.azurewebsites.net.')
param name string

@description('Name of the Flex Consumption plan.')
param planName string

@description('Azure region of the plan and the app.')
param location string

@description('Tags put on the plan and the app; the app also gets azd-service-name.')
param tags object

@description('Name of the user-assigned identity that the app runs as.')
param identityName string

@description('Name of the storage account for host storage and the license tables.')
param storageAccountName string

@description('Name of the blob container that holds the deployment package.')
param deploymentContainerName string

@description('Name of the Application Insights component.')
param applicationInsightsName string

@description('Name of the Key Vault that holds the signing key.')
param keyVaultName string

@minValue(40)
@maxValue(1000)
@description('Maximum number of instances the plan scales out to.')
param maximumInstanceCount int

@allowed([
  2048
  4096
])
@description('Memory of each instance in MB.')
param instanceMemoryMB int

@description('Value of LICENSING_TABLE_PREFIX.')
param tablePrefix string

@description('Value of LICENSING_SIGNING_KEY_NAME.')
param signingKeyName string

@allowed([
  'secret'
  'key'
])
@description('Value of LICENSING_SIGNING_KEY_KIND.')
param signingKeyKind string

@description('Value of LICENSING_SIGNING_KEY_REFRESH_SECONDS.')
param signingKeyRefreshSeconds int

@description('Value of LICENSING_ISSUER.')
param issuer string

@description('Value of LICENSING_TIME_ZONE.')
param timeZone string

@description('Value of LICENSING_TOKEN_LIFETIME_HOURS.')
param tokenLifetimeHours int

@description('Value of LICENSING_RECHECK_HOURS.')
param recheckHours int

@description('Value of LICENSING_CATALOG_CACHE_SECONDS.')
param catalogCacheSeconds int

@description('Value of LICENSING_RATE_LIMIT_SERIAL_PER_HOUR.')
param rateLimitSerialPerHour int

@description('Value of LICENSING_RATE_LIMIT_CLIENT_PER_MINUTE.')
param rateLimitClientPerMinute int

@description('Value of LICENSING_CORS_ORIGINS.')
param corsOrigins string

@description('Value of LICENSING_AUTH_TENANT_ID.')
param authTenantId string

@description('Value of LICENSING_AUTH_AUDIENCE.')
param authAudience string

@description('Value of LICENSING_AUTH_AUTHORITY: the Entra ID sign-in host of this Azure cloud.')
param authAuthority string

// The identity whose client id the host, the Azure SDK and the telemetry exporter use.
resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' existing = {
  name: identityName
}

// Source of the host storage settings, the package URL and the table endpoint.
resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

// Source of the telemetry connection string.
resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// Source of LICENSING_KEY_VAULT_URL.
resource keyVault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

// Flex Consumption (FC1): Linux, billed per execution, scales to zero between the daily
// validation bursts. Runtime and scale settings belong to the app, not to the plan.
resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

// The license service. Flex Consumption takes the runtime from functionAppConfig, so the app
// settings leave out FUNCTIONS_WORKER_RUNTIME and FUNCTIONS_EXTENSION_VERSION. The package
// is read from blob storage with the user-assigned identity, never with a key.
resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, {
    'azd-service-name': 'api'
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      // The platform answers CORS preflight requests; only these origins pass.
      cors: {
        allowedOrigins: empty(corsOrigins) ? [] : split(corsOrigins, ',')
      }
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identity.id
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

// Every setting the app reads. Storage, tables, Key Vault and telemetry are reached with the
// identity: AZURE_CLIENT_ID selects it for DefaultAzureCredential, which the table client
// and the Key Vault client use, and the AzureWebJobsStorage__ settings select it for the host.
resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: functionApp
  name: 'appsettings'
  properties: {
    AzureWebJobsStorage__accountName: storage.name
    AzureWebJobsStorage__credential: 'managedidentity'
    AzureWebJobsStorage__clientId: identity.properties.clientId
    AZURE_CLIENT_ID: identity.properties.clientId
    APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsights.properties.ConnectionString
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD;ClientId=${identity.properties.clientId}'
    // licensing/telemetry.py configures Azure Monitor itself, so the worker must not.
    PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY: 'false'
    LICENSING_TABLES_ENDPOINT: storage.properties.primaryEndpoints.table
    LICENSING_TABLE_PREFIX: tablePrefix
    LICENSING_KEY_VAULT_URL: keyVault.properties.vaultUri
    LICENSING_SIGNING_KEY_NAME: signingKeyName
    LICENSING_SIGNING_KEY_KIND: signingKeyKind
    LICENSING_SIGNING_KEY_REFRESH_SECONDS: string(signingKeyRefreshSeconds)
    LICENSING_KEY_VAULT_CLIENT_ID: identity.properties.clientId
    LICENSING_ISSUER: issuer
    LICENSING_TIME_ZONE: timeZone
    LICENSING_TOKEN_LIFETIME_HOURS: string(tokenLifetimeHours)
    LICENSING_RECHECK_HOURS: string(recheckHours)
    LICENSING_CATALOG_CACHE_SECONDS: string(catalogCacheSeconds)
    LICENSING_RATE_LIMIT_SERIAL_PER_HOUR: string(rateLimitSerialPerHour)
    LICENSING_RATE_LIMIT_CLIENT_PER_MINUTE: string(rateLimitClientPerMinute)
    LICENSING_CORS_ORIGINS: corsOrigins
    LICENSING_AUTH_TENANT_ID: authTenantId
    LICENSING_AUTH_AUDIENCE: authAudience
    LICENSING_AUTH_AUTHORITY: authAuthority
  }
}

// azd deploys with an Entra ID token, so the FTP and SCM user name and password stay off.
resource ftpBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'ftp'
  properties: {
    allow: false
  }
}

// Same for the SCM (Kudu) endpoint that receives the deployment package.
resource scmBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'scm'
  properties: {
    allow: false
  }
}

output name string = functionApp.name
output uri string = 'https://${functionApp.properties.defaultHostName}'
