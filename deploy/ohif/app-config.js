/*
 * OHIF v3 configuration for SlicerWeb: the viewer is served at /browse and talks to this same
 * server's DICOMweb service at /dicom (same origin, relative roots: works behind nginx/Caddy and on
 * loopback alike, and needs no CORS). Installed into docroot/browse/ by deploy/fetch-ohif.
 *
 * Requests this produces (see ../shared/reference/notes-real-clients.md §3.3): the study list QIDO
 * with limit=101 and includefield=00081030,00080060,00080090,00100030; per opened study a series QIDO
 * and one /metadata per series; then /frames/N per image (WADO-RS, uncompressed transfer syntaxes
 * accepted via transfer-syntax=*). Thumbnails are rendered client-side from frames.
 */
window.config = {
  name: 'slicerweb',
  routerBasename: '/browse',
  extensions: [],
  modes: [],
  customizationService: {},
  showStudyList: true,
  // Workers for decoding; the CSP allows blob: workers and wasm.
  maxNumberOfWebWorkers: 2,
  showWarningMessageForCrossOrigin: false,
  showCPUFallbackMessage: true,
  showLoadingIndicator: true,
  strictZSpacingForVolumeViewport: true,
  maxNumRequests: {
    interaction: 100,
    thumbnail: 5,
    prefetch: 25,
  },
  showErrorDetails: 'dev',
  defaultDataSourceName: 'slicerweb',
  dataSources: [
    {
      namespace: '@ohif/extension-default.dataSourcesModule.dicomweb',
      sourceName: 'slicerweb',
      configuration: {
        friendlyName: 'SlicerWeb DICOM database',
        name: 'slicerweb',
        qidoRoot: '/dicom',
        wadoRoot: '/dicom',
        wadoUriRoot: '/dicom',
        qidoSupportsIncludeField: true,
        supportsReject: false,
        imageRendering: 'wadors',
        thumbnailRendering: 'wadors',
        enableStudyLazyLoad: true,
        supportsFuzzyMatching: false,
        supportsWildcard: true,
        staticWado: false,
        singlepart: 'bulkdata,video',
        bulkDataURI: {
          enabled: true,
          relativeResolution: 'studies',
        },
        omitQuotationForMultipartRequest: true,
      },
    },
  ],
};
